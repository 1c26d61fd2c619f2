//! A response head, as the client reads it: httparse parses the status
//! line and fields, and [`plan`] applies RFC 9112's rules (section 6.3)
//! to decide where the body ends and whether the connection can carry the
//! next request.

use crate::body::Framing;
use crate::head::{tokens, values};

/// Most header fields the client accepts in one response head.
pub const MAX_HEADERS: usize = 100;
/// Longest response head the client reads.
pub const MAX_HEAD: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct Head {
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    pub code: u16,
    pub reason: String,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    /// The first value of `name`, as text (lossy), if any.
    pub fn value(&self, name: &str) -> Option<String> {
        values(&self.headers, name)
            .next()
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

/// One httparse pass: `Partial` until the empty line has arrived.
pub fn parse(data: &[u8]) -> crate::head::Parsed<Head> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut fields);
    let len = match response.parse(data)? {
        httparse::Status::Partial => return Ok(httparse::Status::Partial),
        httparse::Status::Complete(len) => len,
    };
    let head = Head {
        minor: response.version.unwrap_or(1),
        code: response.code.unwrap_or(0),
        reason: response.reason.unwrap_or_default().to_string(),
        headers: response
            .headers
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_vec()))
            .collect(),
    };
    Ok(httparse::Status::Complete((head, len)))
}

/// Where the body ends, and whether the connection is reusable after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub framing: Framing,
    pub reusable: bool,
}

/// RFC 9112 section 6.3, in order: no body for HEAD, 1xx, 204 and 304;
/// Transfer-Encoding (chunked last) wins over Content-Length; then
/// Content-Length; else the body runs until the server closes.
pub fn plan(request_was_head: bool, head: &Head) -> Result<Plan, String> {
    let connection = tokens(&head.headers, "connection");
    let mut reusable = if head.minor == 0 {
        connection.iter().any(|t| t == "keep-alive")
    } else {
        !connection.iter().any(|t| t == "close")
    };
    if request_was_head || head.code < 200 || head.code == 204 || head.code == 304 {
        return Ok(Plan {
            framing: Framing::Empty,
            reusable,
        });
    }
    let codings = tokens(&head.headers, "transfer-encoding");
    let lengths: Vec<&[u8]> = values(&head.headers, "content-length")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .collect();
    if !codings.is_empty() {
        // Both framings at once: use chunked, but never trust this
        // connection with another request (RFC 9112, 6.1).
        if !lengths.is_empty() {
            reusable = false;
        }
        return Ok(if codings.last().map(String::as_str) == Some("chunked") {
            Plan {
                framing: Framing::Chunked,
                reusable,
            }
        } else {
            Plan {
                framing: Framing::Close,
                reusable: false,
            }
        });
    }
    if let Some(first) = lengths.first() {
        let same = lengths.iter().all(|l| l == first);
        let len = std::str::from_utf8(first)
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok());
        return match len {
            Some(len) if same => Ok(Plan {
                framing: Framing::Length(len),
                reusable,
            }),
            _ => Err(format!(
                "invalid Content-Length in the response: {:?}",
                lengths
                    .iter()
                    .map(|l| l.escape_ascii().to_string())
                    .collect::<Vec<_>>()
            )),
        };
    }
    Ok(Plan {
        framing: Framing::Close,
        reusable: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(minor: u8, code: u16, fields: &[(&str, &str)]) -> Head {
        Head {
            minor,
            code,
            reason: String::new(),
            headers: fields
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn the_rules_of_section_6_3() {
        let plan = |req_head, h: &Head| plan(req_head, h).unwrap();
        let cl = head(1, 200, &[("Content-Length", "5")]);
        assert_eq!(
            plan(false, &cl),
            Plan {
                framing: Framing::Length(5),
                reusable: true
            }
        );
        assert_eq!(plan(true, &cl).framing, Framing::Empty);
        assert_eq!(
            plan(false, &head(1, 304, &[("Content-Length", "5")])).framing,
            Framing::Empty
        );
        let chunked = head(1, 200, &[("Transfer-Encoding", "gzip, chunked")]);
        assert_eq!(
            plan(false, &chunked),
            Plan {
                framing: Framing::Chunked,
                reusable: true
            }
        );
        let both = head(
            1,
            200,
            &[("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
        );
        assert_eq!(
            plan(false, &both),
            Plan {
                framing: Framing::Chunked,
                reusable: false
            }
        );
        let neither = head(1, 200, &[]);
        assert_eq!(
            plan(false, &neither),
            Plan {
                framing: Framing::Close,
                reusable: false
            }
        );
        let old = head(0, 200, &[("Content-Length", "5")]);
        assert!(!plan(false, &old).reusable);
        let old_kept = head(
            0,
            200,
            &[("Content-Length", "5"), ("Connection", "Keep-Alive")],
        );
        assert!(plan(false, &old_kept).reusable);
        let closing = head(1, 200, &[("Content-Length", "5"), ("Connection", "close")]);
        assert!(!plan(false, &closing).reusable);
        assert!(super::plan(false, &head(1, 200, &[("Content-Length", "5, 6")])).is_err());
        assert!(super::plan(false, &head(1, 200, &[("Content-Length", "-1")])).is_err());
        assert_eq!(
            plan(false, &head(1, 200, &[("Content-Length", "5, 5")])).framing,
            Framing::Length(5)
        );
    }
}
