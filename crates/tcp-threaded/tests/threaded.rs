//! Integration tests: the real `tcp-threaded` binary on port 0. They check
//! behaviour (who gets served, who sees EOF, what is logged), never speed.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use test_support::{Server, run, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_tcp-threaded");

fn server(extra: &[&str]) -> Server {
    let mut args = vec!["server", "--port", "0"];
    args.extend_from_slice(extra);
    Server::start(BIN, &args)
}

/// Sends one line and returns the reply line.
fn ask(stream: &mut TcpStream, line: &str) -> String {
    stream.write_all(line.as_bytes()).unwrap();
    let mut reply = String::new();
    BufReader::new(&*stream).read_line(&mut reply).unwrap();
    reply
}

/// True if a reply to `line` arrives within `wait`.
fn answered_within(stream: &mut TcpStream, line: &str, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    stream.write_all(line.as_bytes()).unwrap();
    let mut byte = [0u8; 1];
    let answered = match stream.read(&mut byte) {
        Ok(n) => n > 0,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(e) => panic!("read failed: {e}"),
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    answered
}

#[test]
fn single_mode_serves_a_second_client_only_after_the_first_leaves() {
    let server = server(&["--mode", "single"]);
    let mut first = server.connect();
    assert_eq!(ask(&mut first, "one\n"), "one\n");
    let mut second = server.connect();
    assert!(
        !answered_within(&mut second, "two\n", Duration::from_millis(300)),
        "served while the first client holds the server"
    );
    drop(first);
    // Now the server gets to the second client and answers the line it sent.
    let mut reply = String::new();
    BufReader::new(&second).read_line(&mut reply).unwrap();
    assert_eq!(reply, "two\n");
}

fn serves_two_clients_at_once(mode: &str) {
    let server = server(&["--mode", mode]);
    let mut first = server.connect();
    assert_eq!(ask(&mut first, "one\n"), "one\n");
    let mut second = server.connect();
    assert_eq!(
        ask(&mut second, "two\n"),
        "two\n",
        "the second client waited for the first"
    );
    assert_eq!(ask(&mut first, "still here\n"), "still here\n");
}

#[test]
fn thread_mode_serves_a_second_client_while_the_first_stays() {
    serves_two_clients_at_once("thread");
}

#[test]
fn pool_mode_serves_a_second_client_while_the_first_stays() {
    serves_two_clients_at_once("pool");
}

#[test]
fn pool_with_one_worker_queues_the_second_client() {
    let server = server(&["--mode", "pool", "--workers", "1"]);
    let mut first = server.connect();
    assert_eq!(ask(&mut first, "one\n"), "one\n");
    let mut second = server.connect();
    assert!(!answered_within(
        &mut second,
        "two\n",
        Duration::from_millis(300)
    ));
    drop(first);
    let mut reply = String::new();
    BufReader::new(&second).read_line(&mut reply).unwrap();
    assert_eq!(reply, "two\n");
}

#[test]
fn idle_clients_are_dropped_after_the_idle_timeout() {
    for mode in ["single", "thread", "pool"] {
        let server = server(&["--mode", mode, "--idle-timeout", "1"]);
        let mut stream = server.connect();
        let mut buf = [0u8; 1];
        assert_eq!(stream.read(&mut buf).unwrap(), 0, "{mode}: expected EOF");
        server.wait_stderr("idle for 1 s");
    }
}

#[test]
fn a_client_trickling_a_line_is_dropped_too() {
    let server = server(&["--idle-timeout", "1"]);
    let mut stream = server.connect();
    // A byte every 400 ms keeps each read inside the 1 s timeout, but the
    // line as a whole takes too long.
    let mut closed = false;
    for _ in 0..20 {
        if stream.write_all(b"x").is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 1];
        stream
            .set_read_timeout(Some(Duration::from_millis(400)))
            .unwrap();
        match stream.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => panic!("a reply to half a line"),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(closed, "a trickling client was kept for 8 s");
    server.wait_stderr("took over 1 s to arrive");
}

#[test]
fn past_max_connections_a_client_sees_eof_and_the_others_keep_working() {
    let server = server(&["--max-connections", "2"]);
    let mut first = server.connect();
    let mut second = server.connect();
    // A reply proves each connection was accepted and counted.
    assert_eq!(ask(&mut first, "a\n"), "a\n");
    assert_eq!(ask(&mut second, "b\n"), "b\n");
    let mut third = server.connect();
    let mut buf = [0u8; 1];
    assert_eq!(
        third.read(&mut buf).unwrap(),
        0,
        "the third connection should see EOF"
    );
    server.wait_stderr("refused: 2 connections open (--max-connections)");
    assert_eq!(ask(&mut first, "c\n"), "c\n");
    assert_eq!(ask(&mut second, "d\n"), "d\n");
    // Once one leaves, a new client fits again.
    drop(first);
    server.wait_stderr("2 requests, closed");
    let mut fourth = server.connect();
    assert_eq!(ask(&mut fourth, "e\n"), "e\n");
}

#[test]
fn an_overlong_line_closes_only_that_connection() {
    let server = server(&["--max-line", "16"]);
    let mut good = server.connect();
    assert_eq!(ask(&mut good, "short\n"), "short\n");
    let mut bad = server.connect();
    bad.write_all(&[b'y'; 100]).unwrap();
    let mut rest = Vec::new();
    // EOF (or a reset, if our unread bytes were still queued) ends it.
    let _ = bad.read_to_end(&mut rest);
    assert!(rest.is_empty(), "got a reply to an over-long line");
    server.wait_stderr("line longer than 16 bytes (--max-line)");
    assert_eq!(ask(&mut good, "exactly sixteen!\n"), "exactly sixteen!\n");
}

#[test]
fn a_client_closing_mid_line_is_logged_and_others_are_served() {
    let server = server(&[]);
    let mut half = server.connect();
    half.write_all(b"no newline").unwrap();
    half.shutdown(std::net::Shutdown::Write).unwrap();
    server.wait_stderr("client closed in the middle of a line (10 bytes, no newline)");
    let mut other = server.connect();
    assert_eq!(ask(&mut other, "fine\n"), "fine\n");
}

#[test]
fn pipelined_requests_each_get_their_reply_in_order() {
    let server = server(&[]);
    let mut stream = server.connect();
    let burst: String = (0..500).map(|i| format!("request {i}\n")).collect();
    stream.write_all(burst.as_bytes()).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut replies = String::new();
    stream.read_to_string(&mut replies).unwrap();
    assert_eq!(replies, burst);
}

#[test]
fn client_summary_counts_are_exact() {
    for mode in ["single", "thread", "pool"] {
        let server = server(&["--mode", mode]);
        let port = server.addr().port().to_string();
        let out = run(
            BIN,
            &[
                "client",
                "--port",
                &port,
                "--connections",
                "3",
                "--requests",
                "7",
                "--size",
                "100",
            ],
            b"",
        );
        assert!(out.status.success(), "{mode}: {}", stderr(&out));
        let summary = stdout(&out);
        assert_eq!(summary.lines().count(), 1, "{summary}");
        for field in [
            "connections=3 ",
            "requests=21 ",
            "errors=0 ",
            "rps=",
            "p50_us=",
            "p99_us=",
        ] {
            assert!(summary.contains(field), "{mode}: no {field:?} in {summary}");
        }
        server.wait_stderr("7 requests, closed");
    }
}

#[test]
fn client_counts_failures_and_exits_1() {
    // Every 100-byte request is over the 16-byte limit: each connection
    // is closed after its first request, so all of its requests fail.
    let server = server(&["--max-line", "16"]);
    let port = server.addr().port().to_string();
    let out = run(
        BIN,
        &[
            "client",
            "--port",
            &port,
            "--connections",
            "2",
            "--requests",
            "5",
            "--size",
            "100",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("requests=0 errors=10 "),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).starts_with("error: 10 requests failed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn stop_with_idle_clients_exits_0_promptly_in_every_mode() {
    for mode in ["single", "thread", "pool"] {
        let mut server = server(&["--mode", mode]);
        let mut idle = server.connect();
        assert_eq!(ask(&mut idle, "hi\n"), "hi\n");
        let _queued = server.connect();
        let (status, took) = server.stop_with(libc::SIGINT);
        assert!(status.success(), "{mode}: {status}");
        assert!(took < Duration::from_secs(2), "{mode}: took {took:?}");
        let mut buf = [0u8; 1];
        assert_eq!(
            idle.read(&mut buf).unwrap(),
            0,
            "{mode}: the idle client got EOF"
        );
    }
}

#[test]
fn sigterm_under_load_exits_0_and_finishes_requests_in_flight() {
    let mut server = server(&["--delay-ms", "50", "--trace"]);
    let port = server.addr().port().to_string();
    let mut load = Command::new(BIN)
        .args([
            "client",
            "--port",
            &port,
            "--connections",
            "20",
            "--requests",
            "1000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until all 20 load connections are accepted before signalling.
    server.wait_stderr_count("trace: accept() -> ", 20);
    let mut probe = server.connect();
    assert_eq!(ask(&mut probe, "warm up\n"), "warm up\n");
    // A request the server is still working on (50 ms) when the signal comes.
    probe.write_all(b"in flight\n").unwrap();
    let (status, took) = server.stop_with(libc::SIGTERM);
    let mut reply = String::new();
    probe.read_to_string(&mut reply).unwrap();
    assert_eq!(
        reply, "in flight\n",
        "the request in flight was not answered before EOF"
    );
    let _ = load.kill();
    let _ = load.wait();
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    server.wait_stderr("stopped: served");
}
