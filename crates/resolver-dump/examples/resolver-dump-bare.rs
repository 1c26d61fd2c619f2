//! resolver-dump, bare: one getaddrinfo call and its answer, printed as the
//! book's chapter on names shows Python's tuples for
//! `socket.getaddrinfo('localhost', 'smtp')`. std and libc only: no flags,
//! no escaping of odd names (the full lesson adds those; its README's
//! "Reading order" says where). Try it:
//! `cargo run -p resolver-dump --example resolver-dump-bare -- localhost smtp`

use std::ffi::{CStr, CString};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::{mem, ptr};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(host) = args.first() else {
        eprintln!("usage: resolver-dump-bare HOST [SERVICE]");
        std::process::exit(2);
    };
    // C wants NUL-terminated strings; an argument never holds a NUL.
    let c_string = |s: &String| CString::new(s.as_str()).expect("no NUL in argv");
    let (host, service) = (c_string(host), args.get(1).map(c_string));
    // All-zero hints: any family, any socket type, no flags. (NULL hints
    // would not do: glibc then adds AI_V4MAPPED | AI_ADDRCONFIG.)
    // SAFETY: all-zero is a valid addrinfo.
    let hints: libc::addrinfo = unsafe { mem::zeroed() };
    let mut list: *mut libc::addrinfo = ptr::null_mut();
    let service_ptr = service.as_ref().map_or(ptr::null(), |s| s.as_ptr());
    // SAFETY: C strings (or null), hints, and a place for the answer.
    let code = unsafe { libc::getaddrinfo(host.as_ptr(), service_ptr, &hints, &mut list) };
    if code != 0 {
        // SAFETY: gai_strerror returns a static C string: its own words.
        let message = unsafe { CStr::from_ptr(libc::gai_strerror(code)) };
        eprintln!("error: {}", message.to_string_lossy());
        std::process::exit(1);
    }
    // The answer is a linked list of 5-tuples, in the order to try them.
    let mut next = list;
    while !next.is_null() {
        // SAFETY: a node of the list getaddrinfo returned, not yet freed.
        let info = unsafe { &*next };
        next = info.ai_next;
        let family = match info.ai_family {
            libc::AF_INET => "AF_INET",
            libc::AF_INET6 => "AF_INET6",
            _ => continue, // not IP: nothing we asked for
        };
        let socktype = match info.ai_socktype {
            libc::SOCK_STREAM => "SOCK_STREAM",
            libc::SOCK_DGRAM => "SOCK_DGRAM",
            _ => "SOCK_RAW", // the third kind getaddrinfo returns for IP
        };
        // The socket address, in network byte order (big-endian) as C has it.
        // SAFETY: ai_addr points to a sockaddr of the family ai_family says.
        let address = unsafe {
            if info.ai_family == libc::AF_INET {
                let v4 = &*info.ai_addr.cast::<libc::sockaddr_in>();
                let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
                format!("('{ip}', {})", u16::from_be(v4.sin_port))
            } else {
                let v6 = &*info.ai_addr.cast::<libc::sockaddr_in6>();
                let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
                let port = u16::from_be(v6.sin6_port);
                format!(
                    "('{ip}', {port}, {}, {})",
                    v6.sin6_flowinfo, v6.sin6_scope_id
                )
            }
        };
        println!(
            "({family}, {socktype}, {}, '', {address})",
            info.ai_protocol
        );
    }
    // SAFETY: the list getaddrinfo returned, freed once, not used after.
    unsafe { libc::freeaddrinfo(list) };
}
