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

/// Every `AI_*` flag (getaddrinfo) with its name, in the man page's order.
pub const AI_FLAGS: &[(i32, &str)] = &[
    (libc::AI_PASSIVE, "AI_PASSIVE"),
    (libc::AI_CANONNAME, "AI_CANONNAME"),
    (libc::AI_NUMERICHOST, "AI_NUMERICHOST"),
    (libc::AI_NUMERICSERV, "AI_NUMERICSERV"),
    (libc::AI_V4MAPPED, "AI_V4MAPPED"),
    (libc::AI_ALL, "AI_ALL"),
    (libc::AI_ADDRCONFIG, "AI_ADDRCONFIG"),
];

/// Every `NI_*` flag (getnameinfo) this tool sets, with its name.
pub const NI_FLAGS: &[(i32, &str)] = &[
    (libc::NI_NUMERICHOST, "NI_NUMERICHOST"),
    (libc::NI_NUMERICSERV, "NI_NUMERICSERV"),
    (libc::NI_NAMEREQD, "NI_NAMEREQD"),
    (libc::NI_DGRAM, "NI_DGRAM"),
];

/// The bits of `flags` by name, as C writes them: `AI_PASSIVE|AI_CANONNAME`
/// with `table` = [`AI_FLAGS`], `0` for none; a bit the table does not name
/// is shown as a number, never dropped.
pub fn flags(flags: i32, table: &[(i32, &str)]) -> String {
    let mut names: Vec<String> = table
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| name.to_string())
        .collect();
    let known = table.iter().fold(0, |all, (bit, _)| all | bit);
    if flags & !known != 0 {
        names.push(format!("{:#x}", flags & !known));
    }
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

/// The flags word from the command line's switches: each `(on, bit)` pair
/// whose switch is on contributes its bit.
pub fn fold(switches: &[(bool, i32)]) -> i32 {
    switches
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |all, (_, bit)| all | bit)
}

/// `1 result`, `3 results`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
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
            flags(libc::AI_CANONNAME | libc::AI_PASSIVE, AI_FLAGS),
            "AI_PASSIVE|AI_CANONNAME"
        );
        assert_eq!(flags(0, AI_FLAGS), "0");
        assert_eq!(
            flags(libc::NI_NAMEREQD | libc::NI_DGRAM, NI_FLAGS),
            "NI_NAMEREQD|NI_DGRAM"
        );
        assert_eq!(flags(libc::NI_DGRAM | 0x4000, NI_FLAGS), "NI_DGRAM|0x4000");
        assert_eq!(fold(&[(true, 1), (false, 2), (true, 8)]), 9);
        assert_eq!(count(1, "result"), "1 result");
        assert_eq!(count(0, "result"), "0 results");
    }
}
