//! Integration tests: the real `udp-datagrams` binary, against its own
//! server and against test-local UDP peers that lose, delay or forge.

use std::net::UdpSocket;
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
    // Drop the first two requests, answer the third, noting when each came.
    let mut arrivals = Vec::new();
    let mut buf = [0u8; 1024];
    for _ in 0..3 {
        let (n, from) = lossy.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        arrivals.push((Instant::now(), from));
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
    let (_, client_addr) = server.recv_from(&mut buf).unwrap();
    // Someone else answers first, pretending to be the server.
    peer()
        .send_to(b"Your data was 999 bytes long", client_addr)
        .unwrap();
    // The real server answers the next try.
    let (_, again) = server.recv_from(&mut buf).unwrap();
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
    let (_, client_addr) = server.recv_from(&mut buf).unwrap();
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
    let out = run(BIN, &["big", "--port", &port, "--size", "70000"], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("70000 bytes is too big"), "{err}");
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
