//! The numbers getaddrinfo speaks in, and the names the textbooks (and
//! `<sys/socket.h>`) give them. The numbers are Linux's: AF_INET6 is 10
//! here but 28 on FreeBSD and 30 on macOS, which is one reason to print
//! both.

/// `AF_INET` for 2, and so on; `None` for a family we do not name.
pub fn family(value: i32) -> Option<&'static str> {
    match value {
        libc::AF_UNSPEC => Some("AF_UNSPEC"),
        libc::AF_INET => Some("AF_INET"),
        libc::AF_INET6 => Some("AF_INET6"),
        _ => None,
    }
}

/// `SOCK_STREAM` for 1, and so on.
pub fn socktype(value: i32) -> Option<&'static str> {
    match value {
        libc::SOCK_STREAM => Some("SOCK_STREAM"),
        libc::SOCK_DGRAM => Some("SOCK_DGRAM"),
        libc::SOCK_RAW => Some("SOCK_RAW"),
        _ => None,
    }
}

/// `IPPROTO_TCP` for 6, and so on.
pub fn protocol(value: i32) -> Option<&'static str> {
    match value {
        libc::IPPROTO_IP => Some("IPPROTO_IP"),
        libc::IPPROTO_TCP => Some("IPPROTO_TCP"),
        libc::IPPROTO_UDP => Some("IPPROTO_UDP"),
        libc::IPPROTO_ICMP => Some("IPPROTO_ICMP"),
        libc::IPPROTO_ICMPV6 => Some("IPPROTO_ICMPV6"),
        libc::IPPROTO_SCTP => Some("IPPROTO_SCTP"),
        _ => None,
    }
}

/// Every `AI_*` flag with its name, in the order the man page lists them.
pub const AI_FLAGS: [(i32, &str); 7] = [
    (libc::AI_PASSIVE, "AI_PASSIVE"),
    (libc::AI_CANONNAME, "AI_CANONNAME"),
    (libc::AI_NUMERICHOST, "AI_NUMERICHOST"),
    (libc::AI_NUMERICSERV, "AI_NUMERICSERV"),
    (libc::AI_V4MAPPED, "AI_V4MAPPED"),
    (libc::AI_ALL, "AI_ALL"),
    (libc::AI_ADDRCONFIG, "AI_ADDRCONFIG"),
];

/// `AI_CANONNAME|AI_PASSIVE` for those bits, `0` for none.
pub fn ai_flags(flags: i32) -> String {
    let names: Vec<&str> = AI_FLAGS
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

/// `AF_INET (2)`: the name and the number, or just the number.
pub fn both(name: Option<&str>, value: i32) -> String {
    match name {
        Some(name) => format!("{name} ({value})"),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_numbers() {
        assert_eq!(both(family(2), 2), "AF_INET (2)");
        assert_eq!(both(socktype(1), 1), "SOCK_STREAM (1)");
        assert_eq!(both(protocol(6), 6), "IPPROTO_TCP (6)");
        assert_eq!(both(protocol(250), 250), "250");
        assert_eq!(
            ai_flags(libc::AI_CANONNAME | libc::AI_PASSIVE),
            "AI_PASSIVE|AI_CANONNAME"
        );
        assert_eq!(ai_flags(0), "0");
    }
}
