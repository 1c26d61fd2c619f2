//! Never start an endless loop (the 2024 "Loop DoS", CVE-2024-2169).
//!
//! A server that answers every datagram answers other servers' replies
//! too. Forge one datagram from server B to server A (UDP source addresses
//! are not checked by anyone), and A answers B, B answers A, and so on
//! forever, at full speed, with no attacker left in the picture. The same
//! happens with an echo service, a chargen, a DNS server that answers
//! garbage with an error, or with A itself as the forged source.
//!
//! So before answering, the server asks: could the sender be a *server*?
//! - the datagram is itself one of this protocol's replies
//!   (`Your data was N bytes long`): a client never sends that;
//! - the source port is 0 (it cannot be answered), a privileged port
//!   (below 1024: echo 7, chargen 19, time 37, DNS 53, NTP 123, ...) or a
//!   well-known UDP service above it (SSDP, mDNS, memcached, ...): the
//!   kernel gives clients ports from 32768 to 60999;
//! - the source is this server's own address, or not a host at all
//!   (0.0.0.0, multicast, broadcast);
//!
//! and, for responders nobody can list, [`Budget`] caps the replies
//! to any one source, so a loop with an unknown responder dies out after a
//! burst. Each refusal is logged (at most once a second per reason, with a
//! count of the rest) and counted in the summary.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::log;

use crate::budget::Budget;

/// What every reply of this protocol says: `Your data was N bytes long`.
pub fn reply_text(len: usize) -> String {
    format!("Your data was {len} bytes long")
}

/// Whether `payload` is a reply of this protocol (ours, another instance's,
/// or the book's Python server's): `Your data was ` digits ` bytes long`.
pub fn is_reply(payload: &[u8]) -> bool {
    let Some(rest) = payload.strip_prefix(b"Your data was ") else {
        return false;
    };
    let Some(digits) = rest.strip_suffix(b" bytes long") else {
        return false;
    };
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// A receive buffer at least this big holds every reply whole (the longest,
/// `Your data was 65535 bytes long`, is 30 bytes), so [`is_reply`] sees it.
pub const MIN_BUFFER: u32 = 32;

/// Well-known UDP services that answer what they receive, by port. Below
/// 1024 every port is refused anyway; these names only make the log clear.
/// Above 1023, the services from the US-CERT amplification list (TA14-017A
/// and its updates) and this lesson's own default port: a datagram from
/// 7002 is another instance of this server, not a client.
const SERVICES: &[(u16, &str)] = &[
    (7, "echo"),
    (9, "discard"),
    (13, "daytime"),
    (17, "qotd"),
    (19, "chargen"),
    (37, "time"),
    (53, "DNS"),
    (69, "TFTP"),
    (111, "portmapper"),
    (123, "NTP"),
    (137, "NetBIOS"),
    (161, "SNMP"),
    (389, "CLDAP"),
    (520, "RIP"),
    (1194, "OpenVPN"),
    (1434, "MS SQL browser"),
    (1604, "Citrix"),
    (1900, "SSDP"),
    (3283, "Apple Remote Desktop"),
    (3478, "STUN"),
    (3702, "WS-Discovery"),
    (5060, "SIP"),
    (5353, "mDNS"),
    (5683, "CoAP"),
    (7002, "udp-datagrams"),
    (10001, "Ubiquiti discovery"),
    (11211, "memcached"),
    (27015, "Steam"),
    (27960, "Quake"),
];

/// Why a datagram gets no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It is a reply of this protocol: answering would ping-pong.
    Reply,
    /// Its source port belongs to a service, not to a client.
    ServicePort(u16, Option<&'static str>),
    /// Its source is this very socket, or no host at all.
    BadSource,
    /// Its source has had its share of replies (see [`crate::budget`]).
    OverBudget(u32),
}

impl Refusal {
    const KINDS: usize = 4;

    fn kind(self) -> usize {
        match self {
            Refusal::Reply => 0,
            Refusal::ServicePort(..) => 1,
            Refusal::BadSource => 2,
            Refusal::OverBudget(_) => 3,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Reply => write!(
                f,
                "it is a reply (`Your data was N bytes long`), so its sender is a server \
                 like us: answering could start an endless loop"
            ),
            Refusal::ServicePort(0, _) => write!(f, "source port 0 cannot be answered"),
            Refusal::ServicePort(port, Some(name)) => write!(
                f,
                "source port {port} is {name}'s, a service that answers datagrams, not a \
                 client: answering could start an endless loop"
            ),
            Refusal::ServicePort(port, None) => write!(
                f,
                "source port {port} is privileged (below 1024), a service's, not a client's: \
                 answering could start an endless loop"
            ),
            Refusal::BadSource => write!(
                f,
                "the source is this server itself, or not a host (forged): answering would \
                 talk to ourselves"
            ),
            Refusal::OverBudget(rate) => write!(
                f,
                "more than {rate} datagrams a second from it (--rate-limit): a loop with \
                 another responder, or a flood"
            ),
        }
    }
}

/// Everything the server checks before it answers a datagram.
pub struct Guard {
    local: SocketAddr,
    rate: u32,
    budget: Budget,
}

impl Guard {
    /// For a server bound to `local`, answering each sender at most `rate`
    /// times a second (in bursts of `rate`).
    pub fn new(local: SocketAddr, rate: u32) -> Self {
        Guard {
            local,
            rate,
            budget: Budget::new(rate),
        }
    }

    /// `Ok` if `payload` from `from` may be answered now (and then it
    /// spends one reply of `from`'s budget), else why not.
    pub fn check(&mut self, from: SocketAddr, payload: &[u8], now: Instant) -> Result<(), Refusal> {
        if is_reply(payload) {
            return Err(Refusal::Reply);
        }
        check_source(from, self.local)?;
        if !self.budget.spend(from, now) {
            return Err(Refusal::OverBudget(self.rate));
        }
        Ok(())
    }
}

/// Checks the sender of a datagram: could it be a client?
pub fn check_source(from: SocketAddr, local: SocketAddr) -> Result<(), Refusal> {
    if !is_host(from.ip()) || is_self(from, local) {
        return Err(Refusal::BadSource);
    }
    let port = from.port();
    if port < 1024 {
        return Err(Refusal::ServicePort(port, service(port)));
    }
    if let Some(name) = service(port) {
        return Err(Refusal::ServicePort(port, Some(name)));
    }
    Ok(())
}

fn service(port: u16) -> Option<&'static str> {
    SERVICES
        .iter()
        .find(|(known, _)| *known == port)
        .map(|(_, name)| *name)
}

/// A unicast host address: not 0.0.0.0 or ::, not multicast, not broadcast.
fn is_host(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

/// Our own port, from our own address, from loopback (anything on 127/8 or
/// ::1 with our port is on this host, so it is us or a server that shares
/// our port number), or from anywhere if we listen on every address. A
/// client never has our port: the kernel does not hand out a port in use.
fn is_self(from: SocketAddr, local: SocketAddr) -> bool {
    from.port() == local.port()
        && (from.ip() == local.ip() || from.ip().is_loopback() || local.ip().is_unspecified())
}

/// How often one kind of log line may be written.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// A log line that may be written at most once a second: a flood of forged
/// datagrams must not become a flood of log lines (or of disk writes).
#[derive(Default)]
pub struct Throttle {
    logged: Option<Instant>,
    unlogged: u64,
}

impl Throttle {
    /// Logs `line` unless one was logged less than a second ago; the next
    /// line that is logged says how many were not.
    pub fn log(&mut self, now: Instant, line: fmt::Arguments) {
        if self
            .logged
            .is_some_and(|at| now.duration_since(at) < LOG_EVERY)
        {
            self.unlogged += 1;
            return;
        }
        match std::mem::take(&mut self.unlogged) {
            0 => log!("{line}"),
            n => log!("{line} ({n} more like it since the last such line)"),
        }
        self.logged = Some(now);
    }
}

/// Refusals, counted by kind, each kind logged through its own [`Throttle`].
#[derive(Default)]
pub struct Refusals {
    counts: [u64; Refusal::KINDS],
    throttles: [Throttle; Refusal::KINDS],
}

impl Refusals {
    /// Counts one refusal and logs it unless its kind was logged < 1 s ago.
    pub fn note(&mut self, from: SocketAddr, why: Refusal, now: Instant) {
        let kind = why.kind();
        self.counts[kind] += 1;
        self.throttles[kind].log(now, format_args!("{from}: not answering: {why}"));
    }

    /// All refusals so far.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

impl fmt::Display for Refusals {
    /// `3 (replies 1, service ports 1, own or no address 0, over budget 1)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [reply, port, source, budget] = self.counts;
        write!(
            f,
            "{} (replies {reply}, service ports {port}, own or no address {source}, \
             over budget {budget})",
            self.total()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_of_the_protocol_are_recognised_and_nothing_else() {
        for len in [0, 5, 23, 65_507, 65_535] {
            assert!(is_reply(reply_text(len).as_bytes()), "{len}");
        }
        assert!(reply_text(65_535).len() <= MIN_BUFFER as usize);
        for other in [
            &b"Your data was  bytes long"[..],
            b"Your data was x bytes long",
            b"Your data was 5 bytes long!",
            b"your data was 5 bytes long",
            b"Your data was 5 bytes",
            b"hello",
            b"",
        ] {
            assert!(!is_reply(other), "{:?}", String::from_utf8_lossy(other));
        }
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn clients_pass_and_servers_do_not() {
        let local = addr("127.0.0.1:7002");
        assert_eq!(check_source(addr("127.0.0.1:45000"), local), Ok(()));
        assert_eq!(
            check_source(addr("[::1]:45000"), addr("[::1]:7002")),
            Ok(())
        );
        assert_eq!(check_source(addr("192.0.2.7:1024"), local), Ok(()));
        let refused = |from: &str| check_source(addr(from), local).unwrap_err();
        assert_eq!(refused("127.0.0.1:0"), Refusal::ServicePort(0, None));
        assert_eq!(
            refused("192.0.2.7:7"),
            Refusal::ServicePort(7, Some("echo"))
        );
        assert_eq!(
            refused("192.0.2.7:19"),
            Refusal::ServicePort(19, Some("chargen"))
        );
        assert_eq!(refused("192.0.2.7:1023"), Refusal::ServicePort(1023, None));
        assert_eq!(
            refused("192.0.2.7:11211"),
            Refusal::ServicePort(11211, Some("memcached"))
        );
        assert_eq!(refused("0.0.0.0:45000"), Refusal::BadSource);
        assert_eq!(refused("224.0.0.1:45000"), Refusal::BadSource);
        assert_eq!(refused("255.255.255.255:45000"), Refusal::BadSource);
    }

    #[test]
    fn our_own_address_is_refused_however_it_is_spelled() {
        let local = addr("127.0.0.1:40000");
        for me in ["127.0.0.1:40000", "127.0.0.2:40000"] {
            assert_eq!(
                check_source(addr(me), local),
                Err(Refusal::BadSource),
                "{me}"
            );
        }
        assert_eq!(
            check_source(addr("[::1]:40000"), addr("[::1]:40000")),
            Err(Refusal::BadSource)
        );
        let wildcard = addr("0.0.0.0:40000");
        assert_eq!(
            check_source(addr("192.0.2.1:40000"), wildcard),
            Err(Refusal::BadSource)
        );
        assert_eq!(check_source(addr("192.0.2.1:40001"), wildcard), Ok(()));
    }

    #[test]
    fn the_guard_spends_budget_only_on_what_it_answers() {
        let mut guard = Guard::new(addr("127.0.0.1:7002"), 2);
        let client = addr("127.0.0.1:45000");
        let now = Instant::now();
        let reply = reply_text(5);
        for _ in 0..10 {
            assert_eq!(
                guard.check(client, reply.as_bytes(), now),
                Err(Refusal::Reply)
            );
            assert_eq!(
                guard.check(addr("127.0.0.1:7002"), b"hi", now),
                Err(Refusal::BadSource)
            );
        }
        assert_eq!(guard.check(client, b"hi", now), Ok(()));
        assert_eq!(guard.check(client, b"hi", now), Ok(()));
        assert_eq!(guard.check(client, b"hi", now), Err(Refusal::OverBudget(2)));
    }

    #[test]
    fn refusals_are_counted_every_time_and_logged_once_a_second() {
        let mut refusals = Refusals::default();
        let from = addr("127.0.0.1:45000");
        let start = Instant::now();
        for i in 0..5 {
            refusals.note(from, Refusal::Reply, start + Duration::from_millis(i));
        }
        refusals.note(from, Refusal::OverBudget(10), start);
        assert_eq!(refusals.total(), 6);
        let unlogged = |r: &Refusals| r.throttles.each_ref().map(|t| t.unlogged);
        assert_eq!(unlogged(&refusals), [4, 0, 0, 0]);
        refusals.note(from, Refusal::Reply, start + LOG_EVERY);
        assert_eq!(
            unlogged(&refusals),
            [0, 0, 0, 0],
            "logged again after a second"
        );
        assert_eq!(
            refusals.to_string(),
            "7 (replies 6, service ports 0, own or no address 0, over budget 1)"
        );
    }
}
