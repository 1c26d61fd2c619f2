//! A request head, as the server reads it: httparse splits the bytes into
//! a method, a target, a version and `Name: value` fields (the syntax);
//! [`check`] applies HTTP's rules to them (the semantics) and decides the
//! request's fate: how its body is framed, whether the connection lives on,
//! or which error status refuses it.

use crate::body::Framing;

/// Most header fields in one request head; more is 431.
pub const MAX_HEADERS: usize = 64;

/// A request head, owned (the bytes it came from are reused for the next).
#[derive(Debug, Clone)]
pub struct Head {
    pub method: String,
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    /// Every value of the field `name` (case-insensitive), in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        crate::head::values(&self.headers, name)
    }

    /// The list items of every `name` field, trimmed and lower-cased.
    pub fn tokens(&self, name: &str) -> Vec<String> {
        crate::head::tokens(&self.headers, name)
    }
}

/// One httparse pass over the bytes received so far: `Partial` until the
/// empty line has arrived, then the owned head and its length.
pub fn parse(data: &[u8]) -> crate::head::Parsed<Head> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut fields);
    let len = match request.parse(data)? {
        httparse::Status::Partial => return Ok(httparse::Status::Partial),
        httparse::Status::Complete(len) => len,
    };
    let head = Head {
        method: request.method.unwrap_or_default().to_string(),
        target: request.path.unwrap_or_default().to_string(),
        minor: request.version.unwrap_or(1),
        headers: request
            .headers
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_vec()))
            .collect(),
    };
    Ok(httparse::Status::Complete((head, len)))
}

/// Whether a line of `head` (the bytes httparse parsed) ends in a bare LF.
/// httparse accepts it, as RFC 9112 allows; this server does not: a proxy
/// in front that reads `X: a\nTransfer-Encoding: chunked` as one field
/// would disagree with us about where the body ends (request smuggling).
pub fn bare_lf(head: &[u8]) -> bool {
    head.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'))
}

/// A request that passed [`check`]: what the server needs to answer it.
#[derive(Debug, Clone)]
pub struct Request {
    pub head: Head,
    /// The target's path, still percent-encoded, and its query (after `?`).
    pub path: String,
    pub query: Option<String>,
    pub framing: Framing,
    /// Whether the client wants the connection kept open after this one.
    pub keep_alive: bool,
    /// `Expect: 100-continue`: the client waits for a go-ahead (or a
    /// refusal) before it sends the body.
    pub expect_continue: bool,
}

/// Why a request is refused: the status and a reason for the log and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub status: u16,
    pub why: String,
}

fn reject(status: u16, why: impl Into<String>) -> Reject {
    Reject {
        status,
        why: why.into(),
    }
}

/// The rules of RFC 9112 that decide where the body ends and whether the
/// request is acceptable at all. `max_body` is the server's `--max-body`:
/// a stated length above it is refused (413) before any byte is read.
pub fn check(head: Head, max_body: usize) -> Result<Request, Reject> {
    // Host: required in HTTP/1.1 (one server, many names), at most once.
    let hosts = head.values("host").count();
    if hosts > 1 {
        return Err(reject(400, "more than one Host field"));
    }
    if hosts == 0 && head.minor == 1 {
        return Err(reject(400, "an HTTP/1.1 request without Host"));
    }

    let (path, query) = split_target(&head)?;
    let framing = framing(&head, max_body)?;

    let connection = head.tokens("connection");
    let keep_alive = if head.minor == 0 {
        connection.iter().any(|t| t == "keep-alive")
    } else {
        !connection.iter().any(|t| t == "close")
    };
    let expect = head.tokens("expect");
    if expect.iter().any(|t| t != "100-continue") {
        return Err(reject(417, "an Expect other than 100-continue"));
    }
    let expect_continue = head.minor == 1 && !expect.is_empty() && framing != Framing::Empty;
    Ok(Request {
        path,
        query,
        framing,
        keep_alive,
        expect_continue,
        head,
    })
}

/// Where this request's body ends, from Content-Length and
/// Transfer-Encoding. The two disagreeing ways to frame one body are how
/// request smuggling works: a proxy believes one, the server behind it the
/// other, and the bytes left over become a second, hidden request. So any
/// doubt is a 400, never a guess.
fn framing(head: &Head, max_body: usize) -> Result<Framing, Reject> {
    let codings = head.tokens("transfer-encoding");
    let has_te = head.values("transfer-encoding").next().is_some();
    let lengths: Vec<&[u8]> = head
        .values("content-length")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|v| v.trim_ascii())
        .collect();
    if has_te && !lengths.is_empty() {
        return Err(reject(
            400,
            "both Content-Length and Transfer-Encoding (request smuggling?)",
        ));
    }
    if has_te {
        if head.minor == 0 {
            return Err(reject(400, "Transfer-Encoding in an HTTP/1.0 request"));
        }
        if codings != ["chunked"] {
            return Err(reject(
                501,
                format!("Transfer-Encoding {codings:?}: only `chunked` is implemented"),
            ));
        }
        return Ok(Framing::Chunked);
    }
    let Some(first) = lengths.first() else {
        return Ok(Framing::Empty);
    };
    if lengths.iter().any(|l| l != first) {
        return Err(reject(
            400,
            "two different Content-Lengths (request smuggling?)",
        ));
    }
    if first.is_empty() || !first.iter().all(u8::is_ascii_digit) {
        return Err(reject(
            400,
            format!(
                "Content-Length \"{}\" is not a number",
                first.escape_ascii()
            ),
        ));
    }
    // Digits only, so the only way to fail is overflow: more than any limit.
    let len = std::str::from_utf8(first)
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    match len {
        Some(len) if len <= max_body as u64 => Ok(if len == 0 {
            Framing::Empty
        } else {
            Framing::Length(len)
        }),
        _ => Err(reject(
            413,
            format!(
                "Content-Length {} is over --max-body {max_body}",
                first.escape_ascii()
            ),
        )),
    }
}

/// The request target: `/path?query` (origin form), or `http://host/path`
/// (absolute form, which proxies are sent and servers must accept).
fn split_target(head: &Head) -> Result<(String, Option<String>), Reject> {
    let target = head.target.as_str();
    let origin = if target.starts_with('/') {
        target
    } else if let Some(rest) = strip_prefix_ignore_case(target, "http://") {
        rest.find('/').map_or("/", |i| &rest[i..])
    } else {
        return Err(reject(
            400,
            format!(
                "request target \"{}\" is not a path",
                target.escape_default()
            ),
        ));
    };
    Ok(match origin.split_once('?') {
        Some((path, query)) => (path.to_string(), Some(query.to_string())),
        None => (origin.to_string(), None),
    })
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests;
