//! GET and HEAD: from a request path to a file under the root, or to a
//! page of the built-in site.
//!
//! The rules that keep every request inside the root, and the attack each
//! one stops:
//!
//! - names are decoded one by one and `..`, `%2f` and NUL are refused
//!   (`path.rs`): `/../../etc/passwd`, `/%2e%2e/etc/passwd`;
//! - names are appended one by one, never a decoded string as a path: a
//!   path that starts with `/` would replace the root (`//etc/passwd`);
//! - the result is canonicalized (every symlink followed, as `open` would)
//!   and must still start with the root: a symlink inside pointing out;
//! - only regular files are served, opened with `O_NONBLOCK`: a FIFO
//!   under the root would block a worker in `open` forever.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use http_basics::path::{Names, Refused, names};

use crate::reply::{Payload, Reply};

/// Where GET finds its files.
pub enum Root {
    /// The small site compiled into the binary (`site/`).
    BuiltIn,
    /// A directory, canonical (symlinks resolved) so prefixes compare.
    Dir(PathBuf),
}

/// The built-in site: path under the root, bytes.
const SITE: &[(&str, &[u8])] = &[
    ("index.html", include_bytes!("../site/index.html")),
    ("style.css", include_bytes!("../site/style.css")),
    ("hello.txt", include_bytes!("../site/hello.txt")),
    (
        "about/index.html",
        include_bytes!("../site/about/index.html"),
    ),
];

/// Answers a GET or HEAD of `path` (percent-encoded, without the query).
pub fn get(root: &Root, path: &str, query: Option<&str>) -> Reply {
    let names = match names(path) {
        Ok(names) => names,
        Err(Refused::Forbidden(why)) => return Reply::error(403, why),
        Err(Refused::BadEncoding) => {
            return Reply::error(400, "a % not followed by two hex digits");
        }
    };
    let to_directory = |path: &str| {
        // `/about` is a directory: send the client to `/about/`, so that
        // relative links in its index.html resolve inside it.
        let location = match query {
            Some(q) => format!("{path}/?{q}"),
            None => format!("{path}/"),
        };
        let mut reply = Reply::error(301, &format!("see {location}"));
        reply.header("Location", location);
        reply
    };
    match root {
        Root::BuiltIn => built_in(&names, path, to_directory),
        Root::Dir(root) => match from_dir(root, &names) {
            Ok(Found::File(file, len, name)) => {
                Reply::new(200, content_type(&name), Payload::File(file, len))
            }
            Ok(Found::Directory) => to_directory(path),
            Err(reply) => reply,
        },
    }
}

fn built_in(names: &Names, path: &str, to_directory: impl Fn(&str) -> Reply) -> Reply {
    let joined: Vec<&str> = names
        .names
        .iter()
        .filter_map(|n| std::str::from_utf8(n).ok())
        .collect();
    if joined.len() != names.names.len() {
        return Reply::error(404, "no such page");
    }
    let joined = joined.join("/");
    let index = if joined.is_empty() {
        "index.html".to_string()
    } else {
        format!("{joined}/index.html")
    };
    let find = |name: &str| {
        SITE.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, bytes)| *bytes)
    };
    if let (false, Some(bytes)) = (names.trailing_slash, find(&joined)) {
        return Reply::new(200, content_type(&joined), Payload::Static(bytes));
    }
    match find(&index) {
        Some(_) if !names.trailing_slash && !joined.is_empty() => to_directory(path),
        Some(bytes) => Reply::new(200, content_type(&index), Payload::Static(bytes)),
        None => Reply::error(404, "no such page"),
    }
}

enum Found {
    File(File, u64, String),
    Directory,
}

fn from_dir(root: &Path, names: &Names) -> Result<Found, Reply> {
    let mut path = root.to_path_buf();
    for name in &names.names {
        // One name at a time: push() of an absolute path would replace
        // the root, but a name holds no `/` (path.rs refused %2f).
        path.push(OsStr::from_bytes(name));
    }
    let mut real = inside(root, &path)?;
    let is_dir = fs::metadata(&real).map(|m| m.is_dir()).unwrap_or(false);
    if is_dir {
        if !names.trailing_slash && !names.names.is_empty() {
            return Ok(Found::Directory);
        }
        // No directory listings: a directory is its index.html or nothing.
        real = inside(root, &real.join("index.html"))?;
    }
    // O_NOFOLLOW: if the last name became a symlink since canonicalize()
    // looked, refuse it rather than follow it. O_NONBLOCK: a FIFO does
    // not block open().
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(&real)
        .map_err(|e| io_reply(&e))?;
    let meta = file.metadata().map_err(|e| io_reply(&e))?;
    if !meta.is_file() {
        return Err(Reply::error(403, "not a regular file"));
    }
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Found::File(file, meta.len(), name))
}

/// `path` with every symlink resolved, if that is still under `root`.
fn inside(root: &Path, path: &Path) -> Result<PathBuf, Reply> {
    let real = fs::canonicalize(path).map_err(|e| io_reply(&e))?;
    // Path::starts_with compares whole names: /srv/www2 is not in /srv/www.
    if !real.starts_with(root) {
        return Err(Reply::error(403, "a symlink leads out of the root"));
    }
    Ok(real)
}

fn io_reply(e: &std::io::Error) -> Reply {
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory => Reply::error(404, "no such file"),
        ErrorKind::PermissionDenied => Reply::error(403, "permission denied"),
        // ELOOP: a symlink loop, or O_NOFOLLOW met a symlink.
        _ if e.raw_os_error() == Some(libc::ELOOP) => {
            Reply::error(403, "a symlink where none may be")
        }
        _ => Reply::error(404, "cannot open that file"),
    }
}

/// The Content-Type for a file name, from its extension.
pub fn content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" | "md" | "rs" | "py" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}
