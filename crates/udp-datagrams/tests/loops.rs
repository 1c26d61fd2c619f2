//! No endless loops (the 2024 "Loop DoS", CVE-2024-2169): a datagram whose
//! source is forged to be another server, an echo service, a chargen or
//! the server itself must lead to a bounded number of datagrams, logged,
//! and every server stays responsive.
//!
//! Forging a source takes a raw socket (root, as in CI): the tests build
//! the IPv4 and UDP headers themselves and send them to loopback only.

use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use test_support::{Server, run, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_udp-datagrams");

fn server(extra: &[&str]) -> Server {
    let mut args = vec!["server", "--port", "0"];
    args.extend_from_slice(extra);
    Server::start(BIN, &args)
}

fn v4(addr: SocketAddr) -> SocketAddrV4 {
    match addr {
        SocketAddr::V4(v4) => v4,
        SocketAddr::V6(v6) => panic!("{v6} is not IPv4"),
    }
}

/// Sends one UDP datagram to `to` that claims to come from `from`: an IPv4
/// header and a UDP header built by hand on a raw socket (IPPROTO_RAW
/// implies IP_HDRINCL). The kernel fills in the IP checksum; a UDP checksum
/// of 0 means "none", which IPv4 allows.
fn forge(from: SocketAddrV4, to: SocketAddrV4, payload: &[u8]) {
    assert!(to.ip().is_loopback(), "to loopback only");
    let raw = Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(Protocol::from(libc::IPPROTO_RAW)),
    )
    .expect("a raw socket (these tests need root, as CI has)");
    let total = 20 + 8 + payload.len();
    let mut packet = Vec::with_capacity(total);
    packet.extend_from_slice(&[0x45, 0]); // IPv4, 20-byte header; TOS 0
    packet.extend_from_slice(&(total as u16).to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0x40, 0]); // id 0 (kernel picks), DF
    packet.extend_from_slice(&[64, libc::IPPROTO_UDP as u8, 0, 0]); // TTL, UDP, checksum
    packet.extend_from_slice(&from.ip().octets());
    packet.extend_from_slice(&to.ip().octets());
    packet.extend_from_slice(&from.port().to_be_bytes());
    packet.extend_from_slice(&to.port().to_be_bytes());
    packet.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    packet.extend_from_slice(&[0, 0]); // no UDP checksum
    packet.extend_from_slice(payload);
    let sent = raw
        .send_to(&packet, &SockAddr::from(SocketAddr::V4(to)))
        .expect("sending the forged datagram");
    assert_eq!(sent, total);
}

/// Stops `server` with SIGINT and returns `received` from its summary line.
fn stop_and_count(server: &mut Server) -> u64 {
    let (status, _) = server.stop_with(libc::SIGINT);
    assert!(status.success(), "{status}");
    let summary = server.wait_stderr("stopped: received ");
    summary
        .strip_prefix("stopped: received ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {summary:?}"))
}

/// Runs the client against `server` with --trace; returns how many
/// datagrams it sent (its `send() -> N bytes` lines) after checking the reply.
fn client_sends(server: &Server) -> u64 {
    let port = server.addr().port().to_string();
    let out = run(BIN, &["--trace", "client", "--port", &port, "hi"], b"");
    assert_eq!(
        stdout(&out),
        "Your data was 2 bytes long\n",
        "{}",
        stderr(&out)
    );
    stderr(&out).matches("trace: send() -> ").count() as u64
}

#[test]
fn a_datagram_forged_from_one_server_to_another_ends_after_one_reply() {
    let (mut a, mut b) = (server(&[]), server(&[]));
    // "From B to A": A answers B, and B, seeing a reply, does not answer.
    forge(v4(b.addr()), v4(a.addr()), b"hello");
    b.wait_stderr(&format!(
        "{}: not answering: it is a reply (`Your data was N bytes long`)",
        a.addr()
    ));
    // Both still serve clients.
    let (to_a, to_b) = (client_sends(&a), client_sends(&b));
    let (at_a, at_b) = (stop_and_count(&mut a), stop_and_count(&mut b));
    // The loop: the forged datagram at A and A's reply at B; nothing more.
    assert_eq!(
        (at_a - to_a, at_b - to_b),
        (1, 1),
        "datagrams received besides the clients' (A, B)"
    );
    a.wait_stderr("refused 0 ");
    b.wait_stderr("refused 1 (replies 1,");
}

#[test]
fn a_datagram_forged_from_a_server_to_itself_gets_no_answer() {
    let mut a = server(&[]);
    forge(v4(a.addr()), v4(a.addr()), b"hello me");
    a.wait_stderr(&format!(
        "{}: not answering: the source is this server itself",
        a.addr()
    ));
    let to_a = client_sends(&a);
    assert_eq!(stop_and_count(&mut a) - to_a, 1, "only the forged datagram");
    a.wait_stderr("own or no address 1,");
}

#[test]
fn a_datagram_forged_from_a_chargen_port_gets_no_answer() {
    let mut a = server(&[]);
    let chargen = SocketAddrV4::new([127, 0, 0, 1].into(), 19);
    forge(chargen, v4(a.addr()), b"x");
    a.wait_stderr("127.0.0.1:19: not answering: source port 19 is chargen's");
    let to_a = client_sends(&a);
    assert_eq!(stop_and_count(&mut a) - to_a, 1);
    a.wait_stderr("service ports 1,");
}

/// A UDP responder that answers every datagram with `answer` (`None`:
/// echo it back), counting what it received, until `done` is set.
fn responder(
    socket: UdpSocket,
    answer: Option<&'static [u8]>,
    done: Arc<AtomicBool>,
) -> (Arc<AtomicU64>, thread::JoinHandle<()>) {
    let seen = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&seen);
    // A short timeout only so the loop can look at `done`; it orders nothing.
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let handle = thread::spawn(move || {
        let mut buf = [0u8; 2048];
        // Bounded: a loop that never dies ends here, and the count says so.
        while !done.load(Ordering::SeqCst) && counter.load(Ordering::SeqCst) < 100_000 {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = socket.send_to(answer.unwrap_or(&buf[..n]), from);
        }
    });
    (seen, handle)
}

#[test]
fn an_echo_service_bounces_one_reply_which_is_not_answered() {
    let mut a = server(&[]);
    let echo = UdpSocket::bind("127.0.0.1:0").unwrap();
    let echo_addr = echo.local_addr().unwrap();
    // As if forged from the echo service: it is the echo service's socket
    // that sends, so the source is real and no raw socket is needed.
    echo.send_to(b"start", a.addr()).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let (seen, handle) = responder(echo, None, Arc::clone(&done));
    a.wait_stderr(&format!("{echo_addr}: not answering: it is a reply"));
    done.store(true, Ordering::SeqCst);
    handle.join().unwrap();
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "the echo service got one reply"
    );
    let to_a = client_sends(&a);
    assert_eq!(
        stop_and_count(&mut a) - to_a,
        2,
        "`start` and its echoed reply"
    );
}

#[test]
fn a_responder_that_answers_everything_runs_out_of_budget() {
    let mut a = server(&["--rate-limit", "5"]);
    let pong = UdpSocket::bind("127.0.0.1:0").unwrap();
    let pong_addr = pong.local_addr().unwrap();
    pong.send_to(b"ping", a.addr()).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let (seen, handle) = responder(pong, Some(b"pong"), Arc::clone(&done));
    // One ball in play: once the server refuses it, nobody sends again.
    a.wait_stderr(&format!(
        "{pong_addr}: not answering: more than 5 datagrams a second from it (--rate-limit)"
    ));
    done.store(true, Ordering::SeqCst);
    handle.join().unwrap();
    let replies = seen.load(Ordering::SeqCst);
    // A burst of 5, plus at most a token or two refilled meanwhile.
    assert!(
        (5..=7).contains(&replies),
        "{replies} replies to the responder"
    );
    let to_a = client_sends(&a);
    assert_eq!(stop_and_count(&mut a) - to_a, replies + 1);
    a.wait_stderr("over budget 1)");
}

/// Runs `test` on a thread of its own in a new network namespace (only
/// `lo`, brought up): what it spawns lives there too, and the namespace
/// goes away with the thread and its children.
fn in_private_netns(test: impl FnOnce() + Send + 'static) {
    thread::spawn(move || {
        // SAFETY: unshare(2) with a flag; it moves only this thread.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "unshare(CLONE_NEWNET): {}",
            std::io::Error::last_os_error()
        );
        let up = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("running ip (iproute2)");
        assert!(up.success(), "ip link set lo up: {up}");
        test();
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
}

#[test]
fn unreachable_forged_sources_cost_a_log_line_a_second_not_one_each() {
    in_private_netns(|| {
        let mut a = server(&[]);
        // 200 sources on a network this namespace has no route to: every
        // reply fails with ENETUNREACH.
        for port in 40_000..40_200 {
            forge(
                SocketAddrV4::new([10, 0, 0, 1].into(), port),
                v4(a.addr()),
                b"hi",
            );
        }
        // The client's reply comes after the forged datagrams are handled.
        let to_a = client_sends(&a);
        assert_eq!(stop_and_count(&mut a) - to_a, 200);
        a.wait_stderr("could not send 200,");
        let lines = a.stderr_lines();
        let logged = lines
            .iter()
            .filter(|l| l.contains(": cannot reply: "))
            .count();
        assert!(
            (1..=3).contains(&logged),
            "{logged} lines for 200 failed replies: {lines:#?}"
        );
    });
}
