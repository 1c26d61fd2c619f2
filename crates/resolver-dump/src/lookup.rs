//! The getaddrinfo call itself: hints in, a list of 5-tuples
//! (family, socktype, protocol, canonname, sockaddr) out, in the order the
//! system returns them: nothing dropped, deduplicated or re-sorted. That
//! order matters: it is RFC 6724's preference order (see /etc/gai.conf),
//! and a client should try the addresses in it.

use std::ffi::CStr;
use std::fmt;

use dns_lookup::{AddrInfo, AddrInfoHints, LookupError};

use crate::names;

/// What to ask: getaddrinfo's four arguments.
pub struct Query {
    pub host: Option<String>,
    pub service: Option<String>,
    pub family: i32,
    pub socktype: i32,
    pub protocol: i32,
    pub flags: i32,
}

impl fmt::Display for Query {
    /// `getaddrinfo("localhost", "smtp", {family=AF_UNSPEC, ...})`, as C.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted =
            |s: &Option<String>| s.as_ref().map_or("NULL".to_string(), |s| format!("{s:?}"));
        write!(
            f,
            "getaddrinfo({}, {}, {{ai_family={}, ai_socktype={}, ai_protocol={}, ai_flags={}}})",
            quoted(&self.host),
            quoted(&self.service),
            names::family(self.family).unwrap_or("?"),
            names::socktype(self.socktype).map_or(self.socktype.to_string(), String::from),
            self.protocol,
            names::ai_flags(self.flags),
        )
    }
}

/// A getaddrinfo failure: its `EAI_*` code and the system's own words.
#[derive(Debug)]
pub struct GaiError {
    pub code: i32,
    pub message: String,
}

impl fmt::Display for GaiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, eai_name(self.code))
    }
}

impl std::error::Error for GaiError {}

impl From<LookupError> for GaiError {
    fn from(error: LookupError) -> Self {
        let code = error.error_num();
        let message = if code == libc::EAI_SYSTEM {
            std::io::Error::from(error).to_string()
        } else {
            // SAFETY: gai_strerror returns a pointer to a static, NUL-terminated string.
            unsafe { CStr::from_ptr(libc::gai_strerror(code)) }
                .to_string_lossy()
                .into_owned()
        };
        GaiError { code, message }
    }
}

/// `EAI_NONAME` for its number, so the error says which case it is.
pub fn eai_name(code: i32) -> &'static str {
    match code {
        libc::EAI_NONAME => "EAI_NONAME",
        libc::EAI_SERVICE => "EAI_SERVICE",
        libc::EAI_BADFLAGS => "EAI_BADFLAGS",
        libc::EAI_FAMILY => "EAI_FAMILY",
        libc::EAI_SOCKTYPE => "EAI_SOCKTYPE",
        libc::EAI_AGAIN => "EAI_AGAIN",
        libc::EAI_FAIL => "EAI_FAIL",
        libc::EAI_MEMORY => "EAI_MEMORY",
        libc::EAI_SYSTEM => "EAI_SYSTEM",
        _ => "EAI_?",
    }
}

/// Calls getaddrinfo and collects every result, in order.
pub fn lookup(query: &Query) -> Result<Vec<AddrInfo>, GaiError> {
    let hints = AddrInfoHints {
        flags: query.flags,
        address: query.family,
        socktype: query.socktype,
        protocol: query.protocol,
    };
    let results =
        dns_lookup::getaddrinfo(query.host.as_deref(), query.service.as_deref(), Some(hints))?;
    // Each entry can only fail to convert if it holds an address family
    // that is not IP; report that rather than hide the entry.
    results
        .map(|entry| {
            entry.map_err(|e| GaiError {
                code: libc::EAI_FAMILY,
                message: e.to_string(),
            })
        })
        .collect()
}
