//! The two system calls, through libc and nothing else: `getaddrinfo(3)`
//! (a name and a service to socket addresses) and `getnameinfo(3)` (back).
//!
//! Names come back as bytes, as the C library returns them. A name is
//! whatever /etc/hosts or a DNS server says it is, and nothing makes it
//! UTF-8 or free of control characters (`127.0.0.9 caf\xe9` is a valid
//! hosts line), so nothing here converts it: the printer decides how to
//! show it (see `printable.rs`). A wrapper that insists on a Rust `String`
//! panics or gives up on such a name; Python's `socket.getaddrinfo` raises
//! `UnicodeDecodeError` for it.

use std::ffi::{CStr, CString, c_char};
use std::fmt;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ptr;

/// getaddrinfo's question: a host, a service, and the hints.
pub struct Hints<'a> {
    pub host: Option<&'a str>,
    pub service: Option<&'a str>,
    pub family: i32,
    pub socktype: i32,
    pub protocol: i32,
    pub flags: i32,
}

/// One result: the 5-tuple of the book (family, socktype, protocol,
/// canonname, sockaddr).
pub struct AddrInfo {
    pub family: i32,
    pub socktype: i32,
    pub protocol: i32,
    /// Only with AI_CANONNAME, and then only on the first result.
    pub canonname: Option<Vec<u8>>,
    pub address: SocketAddr,
}

/// A failure of either call: its `EAI_*` code and the system's own words.
#[derive(Debug)]
pub struct GaiError {
    pub code: i32,
    pub message: String,
}

impl GaiError {
    /// The error for `code`, read at once: EAI_SYSTEM's detail is in errno,
    /// which the next call may overwrite.
    fn new(code: i32) -> Self {
        let message = if code == libc::EAI_SYSTEM {
            std::io::Error::last_os_error().to_string()
        } else if code == libc::EAI_OVERFLOW {
            // glibc's gai_strerror says "Unknown error" for this one; these
            // are the words <netdb.h> gives it.
            "Argument buffer overflow".to_string()
        } else {
            // SAFETY: gai_strerror returns a pointer to a static, NUL-terminated string.
            unsafe { CStr::from_ptr(libc::gai_strerror(code)) }
                .to_string_lossy()
                .into_owned()
        };
        GaiError { code, message }
    }
}

impl fmt::Display for GaiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, eai_name(self.code))
    }
}

impl std::error::Error for GaiError {}

/// glibc's EAI_ADDRFAMILY ("the host has no address in the requested
/// family"), which the libc crate does not define.
pub const EAI_ADDRFAMILY: i32 = -9;

/// `EAI_NONAME` for its number, so an error says which case it is.
pub fn eai_name(code: i32) -> String {
    let name = match code {
        EAI_ADDRFAMILY => "EAI_ADDRFAMILY",
        libc::EAI_NONAME => "EAI_NONAME",
        libc::EAI_SERVICE => "EAI_SERVICE",
        libc::EAI_BADFLAGS => "EAI_BADFLAGS",
        libc::EAI_FAMILY => "EAI_FAMILY",
        libc::EAI_SOCKTYPE => "EAI_SOCKTYPE",
        libc::EAI_AGAIN => "EAI_AGAIN",
        libc::EAI_FAIL => "EAI_FAIL",
        libc::EAI_MEMORY => "EAI_MEMORY",
        libc::EAI_SYSTEM => "EAI_SYSTEM",
        libc::EAI_OVERFLOW => "EAI_OVERFLOW",
        libc::EAI_NODATA => "EAI_NODATA",
        other => return format!("EAI_* code {other}"),
    };
    name.to_string()
}

/// Frees getaddrinfo's list however we leave.
struct List(*mut libc::addrinfo);

impl Drop for List {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the list getaddrinfo returned, freed exactly once.
            unsafe { libc::freeaddrinfo(self.0) };
        }
    }
}

/// Calls getaddrinfo and returns every result, in the order it gave them:
/// nothing dropped, deduplicated or re-sorted.
pub fn getaddrinfo(hints: &Hints) -> Result<Vec<AddrInfo>, GaiError> {
    // Arguments come from argv, which cannot hold a NUL byte.
    let c_string = |s: &str| {
        CString::new(s).map_err(|_| GaiError {
            code: libc::EAI_NONAME,
            message: "a name cannot contain a NUL byte".into(),
        })
    };
    let host = hints.host.map(c_string).transpose()?;
    let service = hints.service.map(c_string).transpose()?;
    // SAFETY: an all-zero addrinfo is the documented "no hints" value.
    let mut c_hints: libc::addrinfo = unsafe { mem::zeroed() };
    c_hints.ai_flags = hints.flags;
    c_hints.ai_family = hints.family;
    c_hints.ai_socktype = hints.socktype;
    c_hints.ai_protocol = hints.protocol;
    let mut list = List(ptr::null_mut());
    // SAFETY: valid C strings or null, valid hints, and a place for the list.
    let code = unsafe {
        libc::getaddrinfo(
            host.as_ref().map_or(ptr::null(), |h| h.as_ptr()),
            service.as_ref().map_or(ptr::null(), |s| s.as_ptr()),
            &c_hints,
            &mut list.0,
        )
    };
    if code != 0 {
        return Err(GaiError::new(code));
    }
    let mut results = Vec::new();
    let mut next = list.0;
    while !next.is_null() {
        // SAFETY: a node of the list getaddrinfo built; it lives until `list` drops.
        let entry = unsafe { &*next };
        // SAFETY: ai_addr points to ai_addrlen bytes of a socket address.
        let address =
            unsafe { socket_address(entry.ai_addr, entry.ai_addrlen) }.ok_or_else(|| GaiError {
                code: libc::EAI_FAMILY,
                message: format!("a result of address family {}, not IP", entry.ai_family),
            })?;
        let canonname = (!entry.ai_canonname.is_null()).then(|| {
            // SAFETY: a NUL-terminated string owned by the list.
            unsafe { CStr::from_ptr(entry.ai_canonname) }
                .to_bytes()
                .to_vec()
        });
        results.push(AddrInfo {
            family: entry.ai_family,
            socktype: entry.ai_socktype,
            protocol: entry.ai_protocol,
            canonname,
            address,
        });
        next = entry.ai_next;
    }
    Ok(results)
}

/// A C socket address as Rust's; `None` for a family that is not IP.
///
/// # Safety
/// `address` is null or points to `len` readable bytes of a socket address.
unsafe fn socket_address(
    address: *const libc::sockaddr,
    len: libc::socklen_t,
) -> Option<SocketAddr> {
    if address.is_null() {
        return None;
    }
    let len = len as usize;
    // SAFETY (all three reads): the caller's promise, with the length checked.
    match i32::from(unsafe { (*address).sa_family }) {
        libc::AF_INET if len >= mem::size_of::<libc::sockaddr_in>() => {
            let v4 = unsafe { ptr::read_unaligned(address.cast::<libc::sockaddr_in>()) };
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddrV4::new(ip, u16::from_be(v4.sin_port)).into())
        }
        libc::AF_INET6 if len >= mem::size_of::<libc::sockaddr_in6>() => {
            let v6 = unsafe { ptr::read_unaligned(address.cast::<libc::sockaddr_in6>()) };
            let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            let port = u16::from_be(v6.sin6_port);
            Some(SocketAddrV6::new(ip, port, v6.sin6_flowinfo, v6.sin6_scope_id).into())
        }
        _ => None,
    }
}

/// NI_MAXSERV from <netdb.h> (the libc crate has only NI_MAXHOST).
const NI_MAXSERV: usize = 32;

/// Calls getnameinfo: `address` back to (host, service), as bytes.
pub fn getnameinfo(address: &SocketAddr, flags: i32) -> Result<(Vec<u8>, Vec<u8>), GaiError> {
    // SAFETY: all-zero is a valid sockaddr_storage; we fill in one family.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match address {
        SocketAddr::V4(v4) => {
            let c = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*v4.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is large and aligned enough for any sockaddr.
            unsafe { ptr::write((&raw mut storage).cast(), c) };
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let c = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: as above.
            unsafe { ptr::write((&raw mut storage).cast(), c) };
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    let mut host = [0 as c_char; libc::NI_MAXHOST as usize];
    let mut service = [0 as c_char; NI_MAXSERV];
    // SAFETY: a filled socket address of `len` bytes, and two buffers with
    // their true lengths; getnameinfo NUL-terminates what it writes.
    let code = unsafe {
        libc::getnameinfo(
            (&raw const storage).cast(),
            len as libc::socklen_t,
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            service.as_mut_ptr(),
            service.len() as libc::socklen_t,
            flags,
        )
    };
    if code != 0 {
        return Err(GaiError::new(code));
    }
    // SAFETY: both buffers now hold NUL-terminated strings.
    let bytes = |buf: &[c_char]| unsafe { CStr::from_ptr(buf.as_ptr()) }.to_bytes().to_vec();
    Ok((bytes(&host), bytes(&service)))
}
