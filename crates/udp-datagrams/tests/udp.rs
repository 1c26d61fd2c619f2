//! Integration tests: the real `udp-datagrams` binary, against its own
//! server and against test-local UDP peers that lose, delay or forge.

use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use test_support::{Server, run, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_udp-datagrams");

fn server(extra: &[&str]) -> Server {
    let mut args = vec!["server", "--port", "0"];
    args.extend_from_slice(extra);
    Server::start(BIN, &args)
}

/// A UDP socket on a free loopback port, with a 5 s read timeout.
fn peer() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket
}

/// `recv_from` on a test's own socket, again after a signal: a recv with a
/// timeout is never restarted by the kernel, so a stop of this process
/// (a debugger or tracer attaching) makes it fail with EINTR. Seen once in
/// `make test` on a loaded machine; a timeout still fails the test.
fn recv_from(socket: &UdpSocket, buf: &mut [u8]) -> (usize, SocketAddr) {
    loop {
        match socket.recv_from(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other.unwrap(),
        }
    }
}

#[test]
fn the_client_gets_the_books_reply() {
    let server = server(&[]);
    let port = server.addr().port().to_string();
    let out = run(BIN, &["client", "--port", &port], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Your data was 23 bytes long\n");
    let out = run(BIN, &["client", "--port", &port, ""], b"");
    assert_eq!(
        stdout(&out),
        "Your data was 0 bytes long\n",
        "an empty datagram is a valid request"
    );
}

#[test]
fn retries_with_growing_waits_get_through_a_lossy_peer() {
    let lossy = peer();
    let port = lossy.local_addr().unwrap().port().to_string();
    let client = thread::spawn(move || run(BIN, &["client", "--port", &port, "hello"], b""));
    // Drop the first two requests, answer the third, noting when each came
    // by the kernel's clock (this thread may be scheduled late; that clock
    // is not).
    let mut arrivals = Vec::new();
    let mut buf = [0u8; 1024];
    for _ in 0..3 {
        let (n, from, at) = recv_stamped(&lossy, &mut buf);
        assert_eq!(&buf[..n], b"hello");
        arrivals.push((at, from));
    }
    let from = arrivals[2].1;
    lossy.send_to(b"Your data was 5 bytes long", from).unwrap();
    let out = client.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Your data was 5 bytes long\n");
    let err = stderr(&out);
    assert!(
        err.contains("no reply within 100ms (try 1); sending again"),
        "{err}"
    );
    assert!(
        err.contains("no reply within 200ms (try 2); sending again"),
        "{err}"
    );
    // Each wait is at least the timeout, and the second at least double
    // the first timeout: that is the backoff (only lower bounds here).
    let first_gap = arrivals[1].0 - arrivals[0].0;
    let second_gap = arrivals[2].0 - arrivals[1].0;
    assert!(first_gap >= Duration::from_millis(95), "{first_gap:?}");
    assert!(second_gap >= Duration::from_millis(195), "{second_gap:?}");
    assert!(
        arrivals.iter().all(|(_, f)| *f == from),
        "all tries come from one socket"
    );
}

/// `recvmsg()` with `SO_TIMESTAMPNS`: one datagram, its IPv4 sender, and
/// when the kernel received it.
fn recv_stamped(socket: &UdpSocket, buf: &mut [u8]) -> (usize, SocketAddr, Duration) {
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    let on: libc::c_int = 1;
    // SAFETY: a valid socket, an int option and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_TIMESTAMPNS");
    // SAFETY: all-zero is a valid sockaddr_in and msghdr.
    let mut from: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut control = [0u64; 16]; // u64: aligned for cmsghdr
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_in).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: msg points at live buffers of the sizes it states; the
    // socket's read timeout bounds the wait.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
    let mut stamp = None;
    // SAFETY: walking the control messages the kernel just wrote, with
    // the libc macros made for it.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                stamp = Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    let ip = std::net::Ipv4Addr::from(u32::from_be(from.sin_addr.s_addr));
    let from = SocketAddr::from((ip, u16::from_be(from.sin_port)));
    (
        n as usize,
        from,
        stamp.expect("an SCM_TIMESTAMPNS control message"),
    )
}

#[test]
fn a_strangers_reply_is_ignored_by_the_connected_client() {
    let server = peer();
    let port = server.local_addr().unwrap().port().to_string();
    let client = thread::spawn(move || {
        run(
            BIN,
            &["client", "--port", &port, "--max-timeout", "4", "hi"],
            b"",
        )
    });
    let mut buf = [0u8; 64];
    let (_, client_addr) = recv_from(&server, &mut buf);
    // Someone else answers first, pretending to be the server.
    peer()
        .send_to(b"Your data was 999 bytes long", client_addr)
        .unwrap();
    // The real server answers the next try.
    let (_, again) = recv_from(&server, &mut buf);
    server
        .send_to(b"Your data was 2 bytes long", again)
        .unwrap();
    let out = client.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Your data was 2 bytes long\n");
}

#[test]
fn a_promiscuous_client_believes_the_stranger_and_says_so() {
    let server = peer();
    let server_addr = server.local_addr().unwrap();
    let port = server_addr.port().to_string();
    let client = thread::spawn(move || {
        run(
            BIN,
            &["client", "--port", &port, "--promiscuous", "hi"],
            b"",
        )
    });
    let mut buf = [0u8; 64];
    let (_, client_addr) = recv_from(&server, &mut buf);
    let stranger = peer();
    stranger
        .send_to(b"Your data was 999 bytes long", client_addr)
        .unwrap();
    let out = client.join().unwrap();
    assert_eq!(stdout(&out), "Your data was 999 bytes long\n");
    let expected = format!(
        "warning: the reply came from {}, not from {server_addr}",
        stranger.local_addr().unwrap()
    );
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
}

#[test]
fn nobody_listening_is_connection_refused() {
    let port = peer().local_addr().unwrap().port().to_string(); // bound, then closed
    let out = run(BIN, &["client", "--port", &port], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("connection refused"), "{err}");
    assert!(
        err.contains("Is the server running? Start it with `cargo run -p udp-datagrams -- server`"),
        "{err}"
    );
}

#[test]
fn a_silent_server_makes_the_client_give_up_with_the_number_of_tries() {
    let silent = peer();
    let port = silent.local_addr().unwrap().port().to_string();
    let out = run(
        BIN,
        &[
            "client",
            "--port",
            &port,
            "--initial-timeout",
            "0.05",
            "--max-timeout",
            "0.2",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("no reply within 200ms (try 3); giving up"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "error: no reply from 127.0.0.1:{port} after 3 tries"
        )),
        "{err}"
    );
    drop(silent);
}

#[test]
fn drop_rate_drops_and_logs_and_the_client_retries_through_it() {
    let server = server(&["--drop-rate", "0.5", "--seed", "3"]);
    let port = server.addr().port().to_string();
    for _ in 0..4 {
        let out = run(BIN, &["client", "--port", &port, "--max-timeout", "8"], b"");
        assert_eq!(
            stdout(&out),
            "Your data was 23 bytes long\n",
            "{}",
            stderr(&out)
        );
    }
    server.wait_stderr("dropping datagram from 127.0.0.1:");
}

#[test]
fn oversized_datagrams_get_emsgsize_and_fitting_ones_go_through() {
    let server = server(&[]);
    let port = server.addr().port().to_string();
    let out = run(BIN, &["big", "--port", &port, "--size", "65508"], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("65508 bytes is too big"), "{err}");
    assert!(err.contains("EMSGSIZE"), "{err}");
    let out = run(BIN, &["big", "--port", &port, "--size", "60000"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("sent a 60000-byte datagram in one piece"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("reply: Your data was 60000 bytes long"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn broadcast_reaches_a_listener_on_the_wildcard_address() {
    let listener = Server::start(BIN, &["broadcast-listen", "--port", "0", "--count", "1"]);
    let port = listener.addr().port().to_string();
    let out = run(BIN, &["broadcast-send", "--port", &port], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    listener.wait_stdout(": Broadcast datagram!");
}

/// Whoever sends a datagram chooses its bytes, and a terminal obeys some:
/// ESC starts a control sequence (here: set the window title, turn the
/// text red), a newline makes one datagram look like two. What a listener
/// or a client prints from the network is escaped, one datagram one line.
const HOSTILE: &[u8] = b"evil\x1b]0;pwned\x07\x1b[31mred\nfake line\xff";
const ESCAPED: &str = "evil\\x1b]0;pwned\\x07\\x1b[31mred\\nfake line\\xff";

#[test]
fn a_listener_prints_a_hostile_datagram_escaped_on_one_line() {
    let listener = Server::start(
        BIN,
        &[
            "broadcast-listen",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--count",
            "1",
        ],
    );
    peer().send_to(HOSTILE, listener.addr()).unwrap();
    let line = listener.wait_stdout(": evil");
    assert!(line.ends_with(&format!(": {ESCAPED}")), "{line:?}");
    listener.wait_stderr("stopped: received 1 datagrams");
    assert!(
        !listener
            .stdout_lines()
            .iter()
            .any(|l| l.contains("fake line") && !l.contains("evil")),
        "{:?}",
        listener.stdout_lines()
    );
}

#[test]
fn a_client_prints_a_hostile_reply_escaped() {
    let server = peer();
    let port = server.local_addr().unwrap().port().to_string();
    let client = thread::spawn(move || run(BIN, &["client", "--port", &port, "hi"], b""));
    let mut buf = [0u8; 64];
    let (_, client_addr) = recv_from(&server, &mut buf);
    server.send_to(HOSTILE, client_addr).unwrap();
    let out = client.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{ESCAPED}\n"));
}

#[test]
fn a_datagram_larger_than_the_buffer_is_reported_not_silently_cut() {
    let server = server(&["--buffer", "100"]);
    let client = peer();
    client.send_to(&[b'x'; 500], server.addr()).unwrap();
    let mut reply = [0u8; 100];
    let n = client.recv(&mut reply).unwrap();
    assert_eq!(&reply[..n], b"Your data was 500 bytes long");
    server.wait_stderr("datagram of 500 bytes truncated to the 100-byte buffer");
}

#[test]
fn garbage_of_every_size_does_not_hurt_the_server() {
    let server = server(&[]);
    let flood = peer();
    let mut seed = 0x1234_5678_u64;
    for i in 0..300u64 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let size = (seed % 65_508) as usize;
        let garbage: Vec<u8> = (0..size).map(|j| (j as u64 ^ seed ^ i) as u8).collect();
        flood.send_to(&garbage, server.addr()).unwrap();
    }
    let port = server.addr().port().to_string();
    let out = run(
        BIN,
        &[
            "client",
            "--port",
            &port,
            "--max-timeout",
            "8",
            "still there?",
        ],
        b"",
    );
    assert_eq!(
        stdout(&out),
        "Your data was 12 bytes long\n",
        "{}",
        stderr(&out)
    );
}

#[test]
fn sigint_wakes_the_server_from_recv_from() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let mut server = server(&[]);
        let (status, took) = server.stop_with(signal);
        assert!(status.success(), "{status}");
        assert!(took < Duration::from_secs(2), "took {took:?}");
        server.wait_stderr("stopped: received 0 datagrams");
    }
}

#[test]
fn a_drop_rate_outside_zero_to_one_is_a_usage_error() {
    for bad in ["1.5", "-0.1", "lots"] {
        let out = run(BIN, &["server", "--drop-rate", bad], b"");
        assert_eq!(out.status.code(), Some(2), "--drop-rate {bad}");
    }
}

/// Runs the binary with `args` and checks it is a usage error (exit 2)
/// whose message contains `says`, and no panic.
fn usage_error(args: &[&str], says: &str) {
    let out = run(BIN, args, b"");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(says), "{args:?} should say {says:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

#[test]
fn values_that_cannot_make_sense_are_usage_errors_not_panics() {
    let day = "at most 86400 seconds";
    for flag in ["--initial-timeout", "--max-timeout"] {
        for bad in ["1e20", "0", "-1", "inf", "NaN", "soon"] {
            let says = if bad == "soon" { "not a number" } else { day };
            usage_error(&["client", &format!("{flag}={bad}")], says);
        }
        // Above 0 but below a nanosecond: a zero timeout once converted.
        usage_error(&["client", &format!("{flag}=1e-10")], "rounds to 0");
    }
    usage_error(
        &["client", "--initial-timeout", "3", "--max-timeout", "2"],
        "--max-timeout (2 s) must be at least --initial-timeout (3 s)",
    );
    for bad in ["18446744073709551615", "100000000000", "65536"] {
        usage_error(&["big", "--size", bad], "must be at most 65535 bytes");
    }
    usage_error(
        &["big", "--size=-1"],
        "not a number of bytes from 0 to 65535",
    );
    usage_error(&["client", &"x".repeat(65_508)], "at most 65507");
    usage_error(
        &["client", "Your data was 5 bytes long"],
        "the server never answers a reply",
    );
    usage_error(&["server", "--buffer", "31"], "32..=65536");
    usage_error(&["server", "--buffer", "65537"], "32..=65536");
    usage_error(&["server", "--rate-limit", "0"], "1..=100000");
    usage_error(&["server", "--port", "65536"], "65535");
    usage_error(
        &["server", "--host", "[127.0.0.1]"],
        "not a bracketed IPv6 address",
    );
    usage_error(&["broadcast-listen", "--count", "0"], "1..");
}

#[test]
fn the_largest_values_accepted_work() {
    let server = server(&["--buffer", "32", "--rate-limit", "100000"]);
    let port = server.addr().port().to_string();
    let out = run(
        BIN,
        &[
            "client",
            "--port",
            &port,
            "--initial-timeout",
            "86400",
            "--max-timeout",
            "86400",
            &"x".repeat(65_507),
        ],
        b"",
    );
    assert_eq!(
        stdout(&out),
        "Your data was 65507 bytes long\n",
        "{}",
        stderr(&out)
    );
    server.wait_stderr("datagram of 65507 bytes truncated to the 32-byte buffer");
    let out = run(BIN, &["big", "--port", &port, "--size", "65535"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("65535 bytes is too big"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_taken_port_names_the_udp_tool() {
    let taken = peer();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = run(BIN, &["server", "--port", &port], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot bind 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(
        err.contains(&format!("`ss -lunp 'sport = :{port}'`")),
        "{err}"
    );
}

#[test]
fn ipv6_works_spelled_either_way_for_server_and_client() {
    // No skipping: without ::1 the server cannot start and the test fails.
    for spelling in ["::1", "[::1]"] {
        let server = server(&["--host", spelling]);
        assert_eq!(server.addr().ip().to_string(), "::1", "{spelling}");
        let port = server.addr().port().to_string();
        for client in ["::1", "[::1]"] {
            let out = run(
                BIN,
                &["client", "--host", client, "--port", &port, "v6"],
                b"",
            );
            assert_eq!(
                stdout(&out),
                "Your data was 2 bytes long\n",
                "server {spelling}, client {client}: {}",
                stderr(&out)
            );
        }
    }
}

#[test]
fn ipv6_server_refuses_forged_replies_too() {
    let server = server(&["--host", "::1"]);
    let other = UdpSocket::bind("[::1]:0").unwrap();
    other
        .send_to(b"Your data was 3 bytes long", server.addr())
        .unwrap();
    server.wait_stderr(&format!(
        "{}: not answering: it is a reply",
        other.local_addr().unwrap()
    ));
}

#[test]
fn a_v4_client_to_a_v6_server_is_refused_with_the_family_hint() {
    let server = server(&["--host", "::1"]);
    let port = server.addr().port().to_string();
    let out = run(BIN, &["client", "--port", &port], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("connection refused"), "{err}");
    assert!(err.contains("the address family"), "{err}");
}

#[test]
fn a_send_refused_by_a_firewall_is_one_lost_try() {
    // A private network namespace (`unshare -n`: only lo, gone with its
    // last process) holds a server and an nftables rule on the output hook
    // that drops the first two datagrams to its port: the kernel answers
    // those two sends with EPERM. The third try gets through.
    let script = r#"
set -eu
ip link set lo up
exec 3< <(exec timeout 20 "$0" server --port 0 2>&1)
server=$!
trap 'kill -INT "$server" 2>/dev/null || true' EXIT
read -r -t 10 first <&3
port=${first##*:}
nft add table inet lesson
nft add chain inet lesson out '{ type filter hook output priority 0; }'
nft add rule inet lesson out udp dport "$port" numgen inc mod 1000 '<' 2 drop
"$0" --trace client --port "$port" hello
"#;
    let out = run("unshare", &["-n", "bash", "-c", script, BIN], b"");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(stdout(&out), "Your data was 5 bytes long\n", "{err}");
    for try_ in [1, 2] {
        assert!(
            err.contains(&format!(
                "try {try_} was not sent: Operation not permitted (os error 1); counting it as lost"
            )),
            "{err}"
        );
    }
    assert!(err.contains("trace: send() -> 5 bytes (try 3)"), "{err}");
}

#[test]
fn every_send_refused_says_so_in_the_error() {
    let script = r#"
set -eu
ip link set lo up
nft add table inet lesson
nft add chain inet lesson out '{ type filter hook output priority 0; }'
nft add rule inet lesson out udp dport 7002 drop
"$0" client --initial-timeout 0.01 --max-timeout 0.02
"#;
    let out = run("unshare", &["-n", "bash", "-c", script, BIN], b"");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "after 2 tries (waits doubling from 0.01 s up to 0.02 s); none of them left this host"
        ),
        "{err}"
    );
}

/// Narrated `trace:` lines as (syscall, count): `send() -> 5 bytes` is
/// ("sendto", Some(5)), `recv() -> nothing within 100ms` ("recvfrom", None).
fn narrated(stderr: &str) -> Vec<(String, Option<i64>)> {
    stderr
        .lines()
        .filter_map(|line| line.strip_prefix("trace: "))
        .filter_map(|call| {
            let name = match &call[..call.find('(')?] {
                "send" => "sendto",
                "recv" => "recvfrom",
                other => other,
            };
            let count = call
                .split_once(") -> ")
                .and_then(|(_, rest)| rest.split(' ').next()?.parse().ok());
            Some((name.to_string(), count))
        })
        .filter(|(name, _)| name != "getsockname") // strace is not asked for it
        .collect()
}

#[test]
fn client_trace_narrates_each_real_call_with_the_kernels_count() {
    let lossy = peer();
    let port = lossy.local_addr().unwrap().port().to_string();
    let answer = thread::spawn(move || {
        let mut buf = [0u8; 64];
        let _ = recv_from(&lossy, &mut buf); // lose the first try
        let (n, from) = recv_from(&lossy, &mut buf);
        lossy.send_to(&loops_reply(n), from).unwrap();
    });
    let (out, calls) = test_support::strace::run(
        BIN,
        &[
            "--trace",
            "client",
            "--port",
            &port,
            "This is another message",
        ],
    );
    answer.join().unwrap();
    assert_eq!(
        stdout(&out),
        "Your data was 23 bytes long\n",
        "{}",
        stderr(&out)
    );
    let opened = calls
        .iter()
        .position(|c| c.name == "socket" && c.line.contains("SOCK_DGRAM"))
        .expect("a UDP socket in the strace");
    let fd = calls[opened].ret;
    // From the socket() on, every call on its descriptor until close().
    let kernel: Vec<(String, Option<i64>)> = calls[opened..]
        .iter()
        .take_while(|c| !(c.name == "close" && c.fd == fd))
        .filter(|c| c.name == "socket" || c.fd == fd)
        .map(|c| {
            let counted = matches!(c.name.as_str(), "sendto" | "recvfrom");
            (c.name.clone(), if counted { c.ret } else { None })
        })
        .collect();
    let told = narrated(&stderr(&out));
    let names = |calls: &[(String, Option<i64>)]| -> Vec<String> {
        calls.iter().map(|(name, _)| name.clone()).collect()
    };
    assert_eq!(
        names(&told),
        names(&kernel),
        "narrated calls vs the kernel's"
    );
    let counts = |calls: &[(String, Option<i64>)]| -> Vec<Option<i64>> {
        calls
            .iter()
            .filter(|(name, _)| matches!(name.as_str(), "sendto" | "recvfrom"))
            .map(|(_, count)| *count)
            .collect()
    };
    assert_eq!(
        counts(&told),
        [Some(23), None, Some(23), Some(27)],
        "send, timeout, send again, reply"
    );
    assert_eq!(
        counts(&told),
        counts(&kernel),
        "narrated counts vs the kernel's"
    );
}

fn loops_reply(n: usize) -> Vec<u8> {
    format!("Your data was {n} bytes long").into_bytes()
}

#[test]
fn server_trace_narrates_each_real_recvfrom_and_sendto() {
    use test_support::strace::Attached;
    let server = server(&["--trace"]);
    let strace = Attached::to(server.pid());
    let client = peer();
    client.connect(server.addr()).unwrap();
    client.send(b"one").unwrap();
    let mut buf = [0u8; 64];
    let n = client.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"Your data was 3 bytes long");
    // A reply is received, and not answered: a recvfrom with no sendto.
    client.send(b"Your data was 9 bytes long").unwrap();
    server.wait_stderr("not answering: it is a reply");
    client.send(&[b'x'; 1000]).unwrap();
    let n = client.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"Your data was 1000 bytes long");
    server.wait_stderr_count("trace: sendto(", 2);
    let calls = strace.finish();
    let kernel: Vec<(String, Option<i64>)> = calls
        .iter()
        .filter(|c| matches!(c.name.as_str(), "recvfrom" | "sendto"))
        .map(|c| (c.name.clone(), c.ret))
        .collect();
    // The server's socket() and bind() came before strace attached.
    let told: Vec<_> = narrated(&server.stderr_lines().join("\n"))
        .into_iter()
        .filter(|(name, _)| !matches!(name.as_str(), "socket" | "bind"))
        .collect();
    let expected = [
        ("recvfrom", Some(3)),
        ("sendto", Some(26)),
        ("recvfrom", Some(26)),
        ("recvfrom", Some(1000)),
        ("sendto", Some(29)),
    ]
    .map(|(name, n)| (name.to_string(), n));
    assert_eq!(told, expected, "what the server narrated");
    assert_eq!(kernel, told, "the kernel's calls vs the narrated ones");
}

/// A child process killed (SIGKILL) when dropped, so a failing test leaves
/// nothing running.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (bounded) for `child` to exit; returns its status.
fn exit_status(child: &mut std::process::Child) -> std::process::ExitStatus {
    test_support::wait_deadline(child, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still running after 10 s"))
}

/// The write end of a pipe whose read end is already closed (`| head
/// -c0`): every write fails with EPIPE, from the first, whatever the
/// scheduling.
fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer
}

#[test]
fn a_server_whose_log_nobody_reads_keeps_serving_and_stops() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(BIN)
        .args([
            "--trace",
            "server",
            "--port",
            "0",
            "--drop-rate",
            "0.5",
            "--seed",
            "3",
        ])
        .stdout(Stdio::piped())
        .stderr(closed_pipe()) // the log's reader is gone: every log line fails
        .spawn()
        .unwrap();
    let lines = child.stdout.take().unwrap();
    let mut server = Killed(child);
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(lines).read_line(&mut first);
        let _ = tx.send(first);
    });
    let first = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let port = first.trim_end().rsplit(':').next().unwrap().to_string();
    // Trace lines, drops and refusals all go to the closed stderr.
    let forged = peer();
    forged
        .send_to(
            b"Your data was 1 bytes long",
            ("127.0.0.1", port.parse().unwrap()),
        )
        .unwrap();
    for _ in 0..3 {
        let out = run(BIN, &["client", "--port", &port, "--max-timeout", "8"], b"");
        assert_eq!(
            stdout(&out),
            "Your data was 23 bytes long\n",
            "{}",
            stderr(&out)
        );
    }
    // SAFETY: kill(2) on the child we spawned and have not reaped.
    unsafe { libc::kill(server.0.id() as libc::pid_t, libc::SIGTERM) };
    let status = exit_status(&mut server.0);
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn a_client_whose_output_nobody_reads_fails_cleanly() {
    use std::process::{Command, Stdio};
    let server = server(&[]);
    let port = server.addr().port().to_string();
    let mut child = Command::new(BIN)
        .args(["client", "--port", &port])
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let mut client = Killed(child);
    let status = exit_status(&mut client.0);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut err, &mut text).unwrap();
    assert_eq!(status.code(), Some(1), "{status}: {text}");
    assert!(text.contains("error: writing to stdout"), "{text}");
    // Both closed: still exit 1, not a panic (101).
    let child = Command::new(BIN)
        .args(["client", "--port", &port])
        .stdout(closed_pipe())
        .stderr(closed_pipe())
        .spawn()
        .unwrap();
    let mut client = Killed(child);
    assert_eq!(exit_status(&mut client.0).code(), Some(1));
}

/// `broadcast-listen | less`, and less is paused: once the pipe is full, a
/// plain write of the next datagram's line blocks, and SIGTERM never ended
/// the listener (it sat in write(2); only SIGKILL worked). Output that
/// cannot be delivered is not a clean stop, so: exit 1 with the reason, at
/// once.
#[test]
fn a_listener_whose_output_nobody_reads_still_stops() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::process::{Command, Stdio};
    let (mut reader, writer) = std::io::pipe().unwrap();
    // One page (the smallest pipe): a few dozen datagrams fill it.
    // SAFETY: fcntl on a pipe descriptor we own.
    let size = unsafe { libc::fcntl(writer.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    assert!(
        size > 0,
        "F_SETPIPE_SZ: {}",
        std::io::Error::last_os_error()
    );
    let mut child = Command::new(BIN)
        .args(["broadcast-listen", "--host", "127.0.0.1", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let mut listener = Killed(child);
    // The `listening on` line, byte by byte (nothing after it is read).
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    while first.last() != Some(&b'\n') {
        assert_eq!(reader.read(&mut byte).unwrap(), 1, "no listening line");
        first.push(byte[0]);
    }
    let first = String::from_utf8(first).unwrap();
    let port: u16 = first
        .trim_end()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let sender = peer();
    for _ in 0..100 {
        sender.send_to(&[b'x'; 100], ("127.0.0.1", port)).unwrap();
    }
    // Wait (bounded) until the listener has filled the pipe.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut queued: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int: the bytes waiting in the pipe.
        assert_eq!(
            unsafe { libc::ioctl(reader.as_raw_fd(), libc::FIONREAD, &mut queued) },
            0
        );
        if queued as usize > size as usize - 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pipe never filled: {queued} bytes"
        );
        // Polling the pipe's fill level: no event says "full".
        thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    // SAFETY: kill(2) on the child we spawned and have not reaped.
    unsafe { libc::kill(listener.0.id() as libc::pid_t, libc::SIGTERM) };
    let status = exit_status(&mut listener.0);
    let took = started.elapsed();
    let mut text = String::new();
    err.read_to_string(&mut text).unwrap();
    assert!(
        took < Duration::from_secs(2),
        "took {took:?} to stop: {text}"
    );
    assert_eq!(status.code(), Some(1), "{status}: {text}");
    assert!(text.contains("error: writing to stdout"), "{text}");
    drop(reader);
}
