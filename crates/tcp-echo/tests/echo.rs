//! Integration tests: the real `tcp-echo` binary, on port 0, against raw
//! std sockets and against its own client.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::thread;
use std::time::Duration;

use test_support::{Server, run, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_tcp-echo");

fn server(extra: &[&str]) -> Server {
    let mut args = vec!["server", "--port", "0"];
    args.extend_from_slice(extra);
    Server::start(BIN, &args)
}

#[test]
fn client_prints_each_message_echoed_on_its_own_line() {
    let server = server(&[]);
    let port = server.addr().port().to_string();
    let out = run(
        BIN,
        &["client", "--port", &port, "hello", "two words", "ünïcode"],
        b"",
    );
    assert!(out.status.success(), "client failed: {}", stderr(&out));
    assert_eq!(stdout(&out), "hello\ntwo words\nünïcode\n");
}

#[test]
fn client_echoes_stdin_line_by_line() {
    let server = server(&[]);
    let port = server.addr().port().to_string();
    let out = run(
        BIN,
        &["client", "--port", &port],
        b"first\nsecond\nno newline at end",
    );
    assert!(out.status.success(), "client failed: {}", stderr(&out));
    assert_eq!(stdout(&out), "first\nsecond\nno newline at end\n");
    // stdin is a pipe here, not a terminal: no "type lines" note.
    assert_eq!(stderr(&out), "");
}

#[test]
fn two_megabytes_of_binary_come_back_verbatim_while_reading_concurrently() {
    let server = server(&[]);
    let stream = server.connect();
    // Every byte value, in an order that no chunking can fake.
    let data: Vec<u8> = (0..2_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut writer = stream.try_clone().unwrap();
    let to_send = data.clone();
    // Written on another thread: 2 MB is far more than the socket buffers
    // hold, so writing it all before reading would deadlock.
    let sender = thread::spawn(move || {
        writer.write_all(&to_send).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut echoed = Vec::new();
    (&stream).read_to_end(&mut echoed).unwrap();
    sender.join().unwrap();
    assert_eq!(echoed.len(), data.len());
    assert!(echoed == data, "echo differs from the data sent");
}

#[test]
fn client_streams_and_verifies_bytes() {
    let server = server(&[]);
    let port = server.addr().port().to_string();
    let out = run(BIN, &["client", "--port", &port, "--bytes", "2000000"], b"");
    assert!(out.status.success(), "client failed: {}", stderr(&out));
    assert!(
        stdout(&out).starts_with("echoed 2000000 bytes in "),
        "{}",
        stdout(&out)
    );
}

#[test]
fn server_closes_after_the_clients_half_close() {
    let server = server(&[]);
    let mut stream = server.connect();
    stream.write_all(b"last words").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    // read_to_end returns only once the server has closed its side: it
    // fails with a timeout (5 s) if the server kept the connection open.
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed).unwrap();
    assert_eq!(echoed, b"last words");
    server.wait_stderr("echoed 10 bytes, closed");
}

#[test]
fn one_client_at_a_time_the_next_waits_then_is_served() {
    let server = server(&[]);
    let mut first = server.connect();
    first.write_all(b"1").unwrap();
    let mut byte = [0u8; 1];
    first.read_exact(&mut byte).unwrap();
    // The second connection completes (the kernel's backlog accepts it) but
    // the server is busy with the first, so no echo comes back yet.
    let mut second = server.connect();
    second
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    second.write_all(b"2").unwrap();
    let waited = second.read(&mut byte).unwrap_err();
    assert!(matches!(
        waited.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    drop(first);
    second
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    second.read_exact(&mut byte).unwrap();
    assert_eq!(&byte, b"2");
}

#[test]
fn a_reset_ends_only_that_connection() {
    let server = server(&[]);
    let stream = server.connect();
    let mut socket = socket2::Socket::from(stream);
    socket.write_all(b"half a thought").unwrap();
    // SO_LINGER 0: close() sends RST instead of FIN, as a crashed peer would.
    socket.set_linger(Some(Duration::ZERO)).unwrap();
    drop(socket);
    server.wait_stderr("connection ended");
    let port = server.addr().port().to_string();
    let out = run(BIN, &["client", "--port", &port, "still serving"], b"");
    assert_eq!(stdout(&out), "still serving\n");
}

#[test]
fn an_idle_client_is_dropped_after_the_idle_timeout() {
    let server = server(&["--idle-timeout", "1"]);
    let mut stream = server.connect();
    let mut buf = [0u8; 1];
    // EOF (0 bytes) within the 5 s read timeout: the server let us go.
    assert_eq!(stream.read(&mut buf).unwrap(), 0);
    server.wait_stderr("no progress for 1 s (--idle-timeout)");
}

/// The summary is true for connections that end badly too: what they had
/// echoed before the idle timeout (or a reset, or a stop) still counts.
#[test]
fn bytes_echoed_before_a_connection_ends_badly_are_counted() {
    let mut server = server(&["--idle-timeout", "1"]);
    let mut stream = server.connect();
    stream.write_all(b"hello").unwrap();
    let mut echo = [0u8; 5];
    stream.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"hello");
    // Then silence, until the server gives up on us.
    assert_eq!(stream.read(&mut echo).unwrap(), 0);
    let ended = server.wait_stderr("connection ended");
    assert!(ended.contains("after echoing 5 bytes"), "{ended}");
    let (status, _) = server.stop_with(libc::SIGINT);
    assert!(status.success(), "exit status {status}");
    server.wait_stderr("stopped: served 1 client, echoed 5 bytes");
}

fn signal_stops_server_promptly_with_an_idle_client(signal: i32) {
    let mut server = server(&[]);
    let _idle = server.connect();
    server.wait_stderr("connected");
    let (status, took) = server.stop_with(signal);
    assert!(status.success(), "exit status {status}");
    assert!(took < Duration::from_secs(2), "took {took:?} to stop");
    server.wait_stderr("stopped: served 1 client,");
}

#[test]
fn sigint_stops_the_server_with_exit_0_while_a_client_is_idle() {
    signal_stops_server_promptly_with_an_idle_client(libc::SIGINT);
}

#[test]
fn sigterm_stops_the_server_with_exit_0_while_a_client_is_idle() {
    signal_stops_server_promptly_with_an_idle_client(libc::SIGTERM);
}

#[test]
fn sigint_wakes_a_server_blocked_in_accept() {
    let mut server = server(&[]);
    let (status, took) = server.stop_with(libc::SIGINT);
    assert!(status.success(), "exit status {status}");
    assert!(took < Duration::from_secs(2), "took {took:?} to stop");
}

#[test]
fn connection_refused_exits_1_with_a_hint() {
    let (_held, port) = test_support::refused_port();
    let port = port.to_string();
    let out = run(BIN, &["client", "--port", &port, "hello"], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("error: connecting to 127.0.0.1:"), "{err}");
    assert!(err.contains("Connection refused"), "{err}");
    assert!(
        err.contains("Is the server running? Start it with `cargo run -p tcp-echo -- server`"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// A server busy with another client: our connection sits in its accept
/// queue (the kernel completed the handshake) and nothing comes back. The
/// hint must say so, not send the learner to check the network.
#[test]
fn a_busy_server_times_out_with_a_hint_about_the_server_not_the_network() {
    let server = server(&[]);
    let port = server.addr().port().to_string();
    let _first = server.connect(); // holds the one-at-a-time server
    server.wait_stderr(": connected");
    let out = run(
        BIN,
        &["client", "--port", &port, "--timeout", "0.5", "hi"],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("the server sent nothing before --timeout"),
        "{err}"
    );
    assert!(err.contains("busy with another client"), "{err}");
    assert!(!err.contains("firewall"), "{err}");
}

#[test]
fn address_in_use_exits_1_naming_the_port() {
    let first = server(&[]);
    let port = first.addr().port().to_string();
    let out = run(BIN, &["server", "--port", &port], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("error: cannot bind 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(
        err.contains(&format!("hint: port {port} is taken")),
        "{err}"
    );
    assert!(
        stdout(&out).is_empty(),
        "announced despite failing: {}",
        stdout(&out)
    );
}

#[test]
fn a_bad_port_is_a_usage_error() {
    for bad in ["70000", "-1", "http"] {
        let out = run(BIN, &["server", "--port", bad], b"");
        assert_eq!(out.status.code(), Some(2), "--port {bad}: {}", stderr(&out));
    }
}

#[test]
fn trace_narrates_bind_listen_accept_and_the_data() {
    let server = server(&["--trace"]);
    let port = server.addr().port();
    let out = run(
        BIN,
        &["client", "--trace", "--port", &port.to_string(), "hi"],
        b"",
    );
    assert!(out.status.success());
    for step in [
        "trace: socket(AF_INET, SOCK_STREAM)",
        "trace: bind(127.0.0.1:0)",
        "trace: listen(backlog=128)",
        "trace: accept() -> 127.0.0.1:",
        "trace: recv() -> 2 bytes",
        "trace: shutdown(Write)",
    ] {
        server.wait_stderr(step);
    }
    let client_trace = stderr(&out);
    assert!(
        client_trace.contains(&format!(
            "trace: connect(127.0.0.1:{port}) -> from 127.0.0.1:"
        )),
        "{client_trace}"
    );
    assert!(
        client_trace.contains("trace: shutdown(Write)"),
        "{client_trace}"
    );
}

#[test]
fn a_trickling_client_is_cut_off_by_max_connection_secs() {
    // A byte every 300 ms is never idle for 2 s, so only the whole-connection
    // limit can free the server for the client waiting behind it.
    let server = server(&["--idle-timeout", "2", "--max-connection-secs", "1"]);
    let mut trickler = server.connect();
    let waiting = thread::spawn({
        let addr = server.addr();
        move || {
            let mut next = test_support::connect(addr);
            next.write_all(b"my turn").unwrap();
            let mut echo = [0u8; 7];
            next.read_exact(&mut echo).map(|()| echo)
        }
    });
    trickler
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut cut_off = false;
    // At most 30 bytes, one per 300 ms: the pause is a read that times out,
    // since an honest echo server sends nothing more until the next byte.
    'trickle: for _ in 0..30 {
        if trickler.write_all(b"x").is_err() {
            cut_off = true;
            break;
        }
        for _ in 0..2 {
            match trickler.read(&mut [0u8; 64]) {
                Ok(0) => {
                    cut_off = true;
                    break 'trickle;
                }
                Ok(_) => {} // the echo of our byte
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => {
                    cut_off = true;
                    break 'trickle;
                }
            }
        }
    }
    assert!(cut_off, "the trickling client was never cut off");
    server.wait_stderr("open for 1 s (--max-connection-secs)");
    assert_eq!(&waiting.join().unwrap().unwrap(), b"my turn");
}

/// `--trace` tells the truth: one `recv()` line per read syscall that
/// returned data, with the count the kernel returned, on the server.
#[test]
fn server_trace_narrates_each_real_read_with_its_count() {
    use test_support::strace::Attached;
    let server = server(&["--trace"]);
    let strace = Attached::to(server.pid());
    let port = server.addr().port().to_string();
    let out = run(BIN, &["client", "--port", &port, "hello", "world"], b"");
    assert_eq!(stdout(&out), "hello\nworld\n");
    server.wait_stderr("echoed 10 bytes, closed");
    let calls = strace.finish();
    let accepted = calls
        .iter()
        .find(|c| c.name.starts_with("accept") && c.ret.is_some())
        .expect("an accept in the strace");
    let client_fd = accepted.ret;
    let kernel: Vec<i64> = calls
        .iter()
        .filter(|c| matches!(c.name.as_str(), "read" | "recvfrom") && c.fd == client_fd)
        .filter_map(|c| c.ret)
        .collect();
    let narrated: Vec<i64> = server
        .stderr_lines()
        .iter()
        .filter_map(|l| l.strip_prefix("trace: recv() -> "))
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect();
    assert!(
        !kernel.is_empty(),
        "no read syscalls on fd {client_fd:?}: {calls:#?}"
    );
    assert_eq!(narrated, kernel, "narrated recv() counts vs the kernel's");
}

/// The client's `--trace` tells the truth too: one `recv()` line per read
/// syscall on its socket, with the kernel's count, and one `send()` line per
/// send. `--bytes` makes the kernel split the echo into many reads; a
/// 100 KB message is more than the server echoes per write (64 KiB), so
/// `read_exact` needs several reads for it however the timing falls.
#[test]
fn client_trace_narrates_each_real_read_and_send_with_its_count() {
    let server = server(&[]);
    let port = server.addr().port().to_string();
    let big = "x".repeat(100_000);
    for (case, args) in [
        (
            "messages",
            vec!["client", "--trace", "--port", &port, "hello", "world", &big],
        ),
        (
            "--bytes",
            vec!["client", "--trace", "--port", &port, "--bytes", "1000000"],
        ),
    ] {
        let (out, calls) = test_support::strace::run(BIN, &args);
        assert!(out.status.success(), "{case}: {}", stderr(&out));
        // The socket's descriptor number was used before it existed (the
        // loader reads libraries on fd 3), so count the connecting
        // thread's calls from its socket() on; other threads start later.
        let at = calls
            .iter()
            .position(|c| c.name == "connect")
            .expect("a connect in the strace");
        let (socket, main) = (calls[at].fd, calls[at].tid);
        let opened = calls[..at]
            .iter()
            .rposition(|c| c.name == "socket" && c.tid == main && c.ret == socket)
            .expect("the socket() before the connect");
        let kernel = |names: &[&str]| -> Vec<i64> {
            calls
                .iter()
                .enumerate()
                .filter(|(i, c)| c.tid != main || *i > opened)
                .map(|(_, c)| c)
                .filter(|c| names.contains(&c.name.as_str()) && c.fd == socket)
                .filter_map(|c| c.ret)
                .collect()
        };
        let narrated = |prefix: &str| -> Vec<i64> {
            stderr(&out)
                .lines()
                .filter_map(|l| l.strip_prefix(prefix))
                .filter_map(|l| l.split(' ').next()?.parse().ok())
                .collect()
        };
        let reads = kernel(&["read", "recvfrom", "recvmsg"]);
        assert!(reads.len() >= 3, "{case}: too few reads to tell: {reads:?}");
        assert_eq!(
            narrated("trace: recv() -> "),
            reads,
            "{case}: recv() lines vs the kernel's reads"
        );
        assert_eq!(
            narrated("trace: send() -> "),
            kernel(&["write", "sendto", "sendmsg"]),
            "{case}: send() lines vs the kernel's sends"
        );
    }
}
