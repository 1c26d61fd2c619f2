//! GET and HEAD: from a request path to a file under the root, or to a
//! page of the built-in site.
//!
//! The rules that keep every request inside the root, and the attack each
//! one stops:
//!
//! - names are decoded one by one and `..`, `%2f` and NUL are refused
//!   (`path.rs`): `/../../etc/passwd`, `/%2e%2e/etc/passwd`;
//! - names are joined one by one into a path *relative* to the root: a
//!   decoded path starting with `/` would otherwise replace the root
//!   (`//etc/passwd`);
//! - symlinks: canonicalize the path (follow every symlink, as `open`
//!   would), check that the result still starts with the root, then open
//!   it with O_NOFOLLOW. That costs a syscall per name, and a symlink
//!   swapped in between the check and the open is not seen. So the common
//!   case goes first to the kernel: `openat2(root, path, RESOLVE_BENEATH)`
//!   resolves the path and fails (EXDEV) the moment a step would leave the
//!   root: one syscall, no window. Only when it says EXDEV (or the kernel
//!   predates it) does the canonicalize check decide;
//! - only regular files are served, opened with `O_NONBLOCK`: a FIFO
//!   under the root would block a worker in `open` forever.

use std::ffi::{CString, OsStr};
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use http_basics::path::{Names, Refused, names};

use crate::reply::{Payload, Reply};

/// Where GET finds its files.
pub enum Root {
    /// The small site compiled into the binary (`site/`).
    BuiltIn,
    /// A directory: its canonical path (symlinks resolved, so prefixes
    /// compare) and an open descriptor for openat2 to resolve beneath.
    Dir(PathBuf, File),
}

impl Root {
    /// Opens `dir` as the root.
    pub fn dir(dir: &Path) -> io::Result<Root> {
        let real = fs::canonicalize(dir)?;
        let fd = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(&real)?;
        Ok(Root::Dir(real, fd))
    }
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
    let to_directory = || {
        // `/about` is a directory: send the client to `/about/`, so that
        // relative links in its index.html resolve inside it. The Location
        // is rebuilt from the checked names, never the raw path: `//evil.org`
        // redirected to `//evil.org/` would send a browser to another host.
        let mut location = String::new();
        for name in &names.names {
            location.push('/');
            location.push_str(&encode_name(name));
        }
        location.push('/');
        if let Some(q) = query {
            location.push('?');
            location.push_str(q);
        }
        let mut reply = Reply::error(301, &format!("see {location}"));
        reply.header("Location", location);
        reply
    };
    match root {
        Root::BuiltIn => built_in(&names, to_directory),
        Root::Dir(root, fd) => match from_dir(root, fd, &names) {
            Ok(Found::File(file, len, name)) => {
                Reply::new(200, content_type(&name), Payload::File(file, len))
            }
            Ok(Found::Directory) => to_directory(),
            Err(reply) => reply,
        },
    }
}

fn built_in(names: &Names, to_directory: impl Fn() -> Reply) -> Reply {
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
        Some(_) if !names.trailing_slash && !joined.is_empty() => to_directory(),
        Some(bytes) => Reply::new(200, content_type(&index), Payload::Static(bytes)),
        None => Reply::error(404, "no such page"),
    }
}

enum Found {
    File(File, u64, String),
    Directory,
}

fn from_dir(root: &Path, root_fd: &File, names: &Names) -> Result<Found, Reply> {
    // A path relative to the root: the names joined by `/` (none holds a
    // `/` or a NUL: path.rs refused those).
    let mut relative = names.names.join(&b'/');
    if relative.is_empty() {
        relative = b".".to_vec();
    }
    let file = open_beneath(root, root_fd, &relative)?;
    let meta = file.metadata().map_err(|e| io_reply(&e))?;
    let (file, meta) = if meta.is_dir() {
        if !names.trailing_slash && !names.names.is_empty() {
            return Ok(Found::Directory);
        }
        // No directory listings: a directory is its index.html or nothing.
        relative.extend_from_slice(b"/index.html");
        let file = open_beneath(root, root_fd, &relative)?;
        let meta = file.metadata().map_err(|e| io_reply(&e))?;
        (file, meta)
    } else {
        (file, meta)
    };
    if !meta.is_file() {
        return Err(Reply::error(403, "not a regular file"));
    }
    let name = OsStr::from_bytes(&relative).to_string_lossy().into_owned();
    Ok(Found::File(file, meta.len(), name))
}

/// Opens `relative` under the root, never outside it.
fn open_beneath(root: &Path, root_fd: &File, relative: &[u8]) -> Result<File, Reply> {
    let forced = std::env::var_os("HTTP_BASICS_NO_OPENAT2").is_some();
    if !forced {
        match openat2_beneath(root_fd, relative) {
            // No openat2 (before Linux 5.6), or EXDEV: some step of the
            // path leaves the root, if only for a moment (an absolute
            // symlink, even one landing back inside): the check below
            // decides, so both ways serve exactly the same files.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EXDEV)) => {}
            other => return other.map_err(|e| io_reply(&e)),
        }
    }
    // The portable way (HTTP_BASICS_NO_OPENAT2 forces it, so the tests
    // run both).
    let real = inside(root, &root.join(OsStr::from_bytes(relative)))?;
    // O_NOFOLLOW: if the last name became a symlink since canonicalize()
    // looked, refuse it rather than follow it.
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(&real)
        .map_err(|e| io_reply(&e))
}

/// `openat2(root_fd, relative, RESOLVE_BENEATH)`: the kernel resolves the
/// path, symlinks and all, and refuses (EXDEV) any step out of `root_fd`.
fn openat2_beneath(root_fd: &File, relative: &[u8]) -> io::Result<File> {
    let path = CString::new(relative).map_err(|_| io::Error::from(ErrorKind::InvalidInput))?;
    // SAFETY: open_how is plain data; zeroed is a valid value for it.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: a valid directory descriptor, a NUL-terminated path and a
    // pointer to `how` with its size, as openat2(2) requires.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root_fd.as_raw_fd(),
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this descriptor; nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd as i32) })
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
        // openat2 with RESOLVE_BENEATH: the path (a symlink in it) leads out.
        _ if e.raw_os_error() == Some(libc::EXDEV) => {
            Reply::error(403, "a symlink leads out of the root")
        }
        // ELOOP: a symlink loop, or O_NOFOLLOW met a symlink.
        _ if e.raw_os_error() == Some(libc::ELOOP) => {
            Reply::error(403, "a symlink where none may be")
        }
        _ => Reply::error(404, "cannot open that file"),
    }
}

/// A decoded name, percent-encoded again for a Location field.
fn encode_name(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    for &b in name {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The Content-Type for a file name (or a path), from its extension.
pub fn content_type(name: &str) -> &'static str {
    let name = name.rsplit('/').next().unwrap_or(name);
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
