//! Integration tests: the real `tcp-threaded` binary on port 0. They check
//! behaviour (who gets served, who sees EOF or a reset, what is logged,
//! which syscalls happen), never speed.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use test_support::{DEADLINE, Server, run, stderr, stdout};

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

/// The port argument for a client.
fn port_of(server: &Server) -> String {
    server.addr().port().to_string()
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
fn pool_with_one_worker_queues_the_second_client_and_says_so() {
    let server = server(&["--mode", "pool", "--workers", "1"]);
    let mut first = server.connect();
    assert_eq!(ask(&mut first, "one\n"), "one\n");
    let mut second = server.connect();
    server.wait_stderr("every worker (1) is busy: new connections wait in the queue");
    assert!(!answered_within(
        &mut second,
        "two\n",
        Duration::from_millis(300)
    ));
    drop(first);
    let mut reply = String::new();
    BufReader::new(&second).read_line(&mut reply).unwrap();
    assert_eq!(reply, "two\n");
    let drained = server.wait_stderr("the queue is empty again after ");
    assert!(
        drained.contains("the longest wait for a worker was "),
        "{drained}"
    );
    // One request: singular.
    server.wait_stderr("1 request, closed");
}

#[test]
fn a_busy_client_holds_a_worker_no_longer_than_max_connection_secs() {
    // A client that sends a line every 100 ms is never idle; without a
    // lifetime it would hold the only worker, and the newcomer, forever.
    let server = server(&[
        "--workers",
        "1",
        "--max-connection-secs",
        "1",
        "--idle-timeout",
        "10",
    ]);
    let mut busy = server.connect();
    assert_eq!(ask(&mut busy, "first\n"), "first\n");
    let mut newcomer = server.connect();
    newcomer.write_all(b"let me in\n").unwrap();
    server.wait_stderr("every worker (1) is busy");
    let mut cut = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if busy.write_all(b"still busy\n").is_err() {
            cut = true;
            break;
        }
        let mut reply = [0u8; 11];
        match busy.read_exact(&mut reply) {
            Ok(()) => assert_eq!(&reply, b"still busy\n"),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("no reply within 5 s")
            }
            // EOF or a reset: the server closed it.
            Err(_) => {
                cut = true;
                break;
            }
        }
        // The client's pace, a line every 100 ms: the behaviour under
        // test (never idle), not a synchronisation.
        thread::sleep(Duration::from_millis(100));
    }
    assert!(cut, "a busy client was kept for 10 s past a 1 s lifetime");
    server.wait_stderr("open for 1 s (--max-connection-secs)");
    let mut reply = String::new();
    BufReader::new(&newcomer).read_line(&mut reply).unwrap();
    assert_eq!(
        reply, "let me in\n",
        "the newcomer is served once the busy client is cut"
    );
}

#[test]
fn idle_clients_are_dropped_after_the_idle_timeout() {
    for mode in ["single", "thread", "pool"] {
        let server = server(&["--mode", mode, "--idle-timeout", "1"]);
        let mut stream = server.connect();
        let mut buf = [0u8; 1];
        assert_eq!(stream.read(&mut buf).unwrap(), 0, "{mode}: expected EOF");
        server.wait_stderr("no progress for 1 s (--idle-timeout)");
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

/// Connects past the limit, sends `request` unless it is empty, and
/// checks the reset: it may surface at connect (when it arrives before the
/// client looks at its finished handshake), at the write, or at the read.
/// EOF is the one wrong answer: that is what a plain close would give.
fn expect_reset(server: &Server, request: &[u8]) {
    let is_reset =
        |e: &std::io::Error| matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe);
    let mut stream = match TcpStream::connect_timeout(&server.addr(), Duration::from_secs(5)) {
        Ok(stream) => stream,
        Err(e) if is_reset(&e) => return,
        Err(e) => panic!("connect: {e}"),
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    if !request.is_empty() {
        match stream.write_all(request) {
            Ok(()) => {}
            Err(e) if is_reset(&e) => return,
            Err(e) => panic!("write: {e}"),
        }
    }
    let mut buf = [0u8; 1];
    match stream.read(&mut buf) {
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("expected a reset, got {other:?}"),
    }
}

#[test]
fn past_max_connections_a_client_is_reset_and_the_others_keep_working() {
    let server = server(&["--max-connections", "2"]);
    let mut first = server.connect();
    let mut second = server.connect();
    // A reply proves each connection was accepted and counted.
    assert_eq!(ask(&mut first, "a\n"), "a\n");
    assert_eq!(ask(&mut second, "b\n"), "b\n");
    // A client that sent nothing: a plain close would be a FIN (EOF).
    expect_reset(&server, b"");
    // A client whose request had arrived.
    expect_reset(&server, b"c\n");
    server.wait_stderr_count("refused: 2 connections open (--max-connections)", 2);
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
fn requests_before_an_overlong_line_are_answered_before_the_close() {
    // Three pipelined lines in one write, the last over --max-line: the
    // first two are good requests and get their answers; only then does
    // the over-long one end the connection. (Answers batched for one
    // write were lost with the connection before.)
    let server = server(&["--max-line", "16"]);
    let mut stream = server.connect();
    let long = "y".repeat(100);
    stream
        .write_all(format!("first\nsecond\n{long}\n").as_bytes())
        .unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut answers = Vec::new();
    let _ = stream.read_to_end(&mut answers);
    assert_eq!(String::from_utf8_lossy(&answers), "first\nsecond\n");
    server.wait_stderr("2 requests, connection ended: line longer than 16 bytes");
}

#[test]
fn a_client_closing_mid_line_is_logged_and_others_are_served() {
    let server = server(&[]);
    let mut half = server.connect();
    half.write_all(b"no newline").unwrap();
    half.shutdown(Shutdown::Write).unwrap();
    server.wait_stderr("client closed in the middle of a line (10 bytes, no newline)");
    let mut other = server.connect();
    assert_eq!(ask(&mut other, "fine\n"), "fine\n");
}

/// Narrated `trace: NAME() -> N ...` counts, in order.
fn narrated(server: &Server, call: &str) -> Vec<i64> {
    let prefix = format!("trace: {call}() -> ");
    server
        .stderr_lines()
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect()
}

#[test]
fn pipelined_requests_are_answered_in_order_with_one_write_per_read() {
    let server = server(&["--trace"]);
    let mut stream = server.connect();
    let burst: String = (0..500).map(|i| format!("request {i}\n")).collect();
    stream.write_all(burst.as_bytes()).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut replies = String::new();
    stream.read_to_string(&mut replies).unwrap();
    assert_eq!(replies, burst);
    server.wait_stderr("500 requests, closed");
    // With no --delay-ms every answer is ready at once: the answers to all
    // the lines one read brought go out in one write, not one per line.
    let reads = narrated(&server, "recv").iter().filter(|&&n| n > 0).count();
    let writes = narrated(&server, "send");
    assert_eq!(writes.iter().sum::<i64>(), burst.len() as i64);
    assert!(
        writes.len() <= reads,
        "{} writes for {reads} reads of 500 pipelined requests",
        writes.len()
    );
}

#[test]
fn with_delay_pipelined_replies_flow_and_a_stop_ends_the_burst() {
    // 500 pipelined requests of 20 ms each would take 10 s. The first
    // answer must not wait for the last request, and a stop must not wait
    // for the burst either.
    let mut server = server(&["--delay-ms", "20"]);
    let mut stream = server.connect();
    let burst: String = (0..500).map(|i| format!("request {i}\n")).collect();
    stream.write_all(burst.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut first = String::new();
    // Within the 5 s read timeout: far less than the 10 s the burst takes.
    reader.read_line(&mut first).unwrap();
    assert_eq!(first, "request 0\n");
    let (status, took) = server.stop_with(libc::SIGTERM);
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let mut rest = String::new();
    let _ = reader.read_to_string(&mut rest);
    let answered = 1 + rest.lines().count();
    assert!(
        answered < 500,
        "all 500 answered: the stop did not end the burst"
    );
    assert!(
        burst.starts_with(&format!("{first}{rest}")),
        "answers out of order"
    );
    server.wait_stderr("closed: the server is stopping");
}

#[test]
fn a_stop_delivers_every_answer_it_counts_even_to_a_slow_reader() {
    // A client pipelines 1000-byte requests and reads nothing for now: its
    // small receive window fills, and the answers the server writes wait
    // in the server's send queue. Then the stop. The server must not count
    // an answer it then throws away: closing at once, with the client's
    // requests unread, makes the kernel send a reset and drop the queue
    // (on a lossy link the same happens to answers not yet acknowledged).
    let mut server = server(&["--delay-ms", "1", "--trace"]);
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .connect_timeout(&server.addr().into(), DEADLINE)
        .unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.set_write_timeout(Some(DEADLINE)).unwrap();
    let line = format!("{}\n", "r".repeat(999));
    let writer = {
        let (mut stream, line) = (stream.try_clone().unwrap(), line.clone());
        thread::spawn(move || {
            for _ in 0..3000 {
                if stream.write_all(line.as_bytes()).is_err() {
                    return; // the server stopped and reset us: fine
                }
            }
        })
    };
    // 1000 answers written: 1 MB, far more than our window holds.
    server.wait_stderr_count("trace: send() -> 1000 bytes", 1000);
    // From the stop on, read everything that comes, until the server's EOF
    // or reset (each read bounded by the stream's timeout).
    let reader = thread::spawn(move || {
        let (mut received, mut buf) = (0, vec![0; 65536]);
        loop {
            match (&stream).read(&mut buf) {
                Ok(0) => return received,
                Ok(n) => received += n,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return received,
                Err(e) => panic!("reading the answers: {e}"),
            }
        }
    });
    let (status, took) = server.stop_with(libc::SIGTERM);
    let received = reader.join().unwrap();
    writer.join().unwrap();
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let logged = server.wait_stderr("closed: the server is stopping");
    let counted: usize = logged
        .split(": ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        received / line.len(),
        counted,
        "answers received vs counted as answered ({logged})"
    );
}

#[test]
fn client_summary_counts_are_exact() {
    for mode in ["single", "thread", "pool"] {
        let server = server(&["--mode", mode]);
        let port = port_of(&server);
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
    let port = port_of(&server);
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
fn a_reply_trickled_past_the_timeout_is_a_failure_not_a_success() {
    // --timeout bounds a whole reply. A server that sends its 16-byte
    // answer a byte every 200 ms (3.2 s) must not pass under --timeout 1
    // because every single read got a byte within the second.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let trickler = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.set_write_timeout(Some(DEADLINE)).unwrap();
        let mut request = String::new();
        BufReader::new(&stream).read_line(&mut request).unwrap();
        for byte in request.bytes() {
            if (&stream).write_all(&[byte]).is_err() {
                return; // the client gave up: what we want
            }
            // The trickle rate (the misbehaviour under test), not a wait
            // for anything.
            thread::sleep(Duration::from_millis(200));
        }
    });
    let out = run(
        BIN,
        &[
            "client",
            "--port",
            &port,
            "--connections",
            "1",
            "--requests",
            "1",
            "--size",
            "16",
            "--timeout",
            "1",
        ],
        b"",
    );
    trickler.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("requests=0 errors=1 "),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("no whole reply within --timeout"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_refused_client_names_the_server_command() {
    let (_held, port) = test_support::refused_port();
    let port = port.to_string();
    let out = run(BIN, &["client", "--port", &port, "--connections", "1"], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("nothing is listening on 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(
        err.contains("Start it with `cargo run -p tcp-threaded -- server`"),
        "{err}"
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
    let port = port_of(&server);
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

/// A server process killed on drop, for the tests that need its pipes
/// set up differently from [`Server`].
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (bounded) for the child to exit.
fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    test_support::wait_deadline(child, DEADLINE)
        .unwrap_or_else(|| panic!("still running after {DEADLINE:?}"))
}

/// Starts `server --port 0 ARGS...` with its stderr going to `stderr`
/// (the tests that need it closed, or never read); returns the process,
/// killed on drop, and the address from its `listening on` line.
fn start_with_stderr(args: &[&str], stderr: impl Into<Stdio>) -> (Guard, SocketAddr) {
    spawn_server(
        Command::new(BIN)
            .args(["server", "--port", "0"])
            .args(args)
            .stderr(stderr),
    )
}

/// Spawns a server `command` set up by the caller (its stderr, its
/// environment), waits (bounded) for its `listening on` line, and drains
/// its stdout for its whole life. Killed when the Guard drops.
fn spawn_server(command: &mut Command) -> (Guard, SocketAddr) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let server_out = child.stdout.take().unwrap();
    let child = Guard(child);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut out = BufReader::new(server_out);
        let mut first = String::new();
        let _ = out.read_line(&mut first);
        let _ = tx.send(first);
        let _ = std::io::copy(&mut out, &mut std::io::sink());
    });
    let first = rx.recv_timeout(DEADLINE).expect("a `listening on` line");
    let addr = first
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap()
        .parse()
        .unwrap();
    (child, addr)
}

/// SIGTERM, then the exit status and how long the exit took (bounded).
fn terminate(child: &mut Guard) -> (std::process::ExitStatus, Duration) {
    let started = Instant::now();
    // SAFETY: kill(2) on the child we spawned and have not reaped.
    assert_eq!(
        unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let status = wait_exit(&mut child.0);
    (status, started.elapsed())
}

#[test]
fn a_closed_stderr_kills_no_worker_and_no_signal() {
    // `server 2>&1 | head -1`: whoever read the logs is gone. Every log
    // line now fails with EPIPE; none may take a worker or the signal
    // handler with it. Two workers, sixty connections that each log.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader); // the read end of its stderr: closed before it starts
    let (mut child, addr) = start_with_stderr(&["--workers", "2", "--trace"], writer);
    for i in 0..50 {
        let mut stream = test_support::connect(addr);
        assert_eq!(
            ask(&mut stream, &format!("line {i}\n")),
            format!("line {i}\n")
        );
    }
    let port = addr.port().to_string();
    let out = run(
        BIN,
        &[
            "client",
            "--port",
            &port,
            "--connections",
            "10",
            "--requests",
            "5",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("requests=50 errors=0 "),
        "{}",
        stdout(&out)
    );
    let (status, _) = terminate(&mut child);
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn a_stderr_nobody_reads_neither_deafens_the_server_nor_blocks_its_stop() {
    // `server 2>&1 | less` left on its first page, or a log collector that
    // hangs: the pipe fills (64 KiB) and stays full, and a plain write to
    // it blocks for ever, in every thread that logs; the stop waits for
    // those threads. With --trace each connection logs about 8 lines, so the pipe
    // is full after some 150 connections; 400 must all be served, and
    // SIGTERM must still stop the server within 2 s.
    let (reader, writer) = std::io::pipe().unwrap();
    let (mut child, addr) = start_with_stderr(&["--workers", "2", "--trace"], writer);
    for i in 0..400 {
        let mut stream = test_support::connect(addr);
        let line = format!("line {i}\n");
        stream.write_all(line.as_bytes()).unwrap();
        let mut reply = String::new();
        let read = BufReader::new(&stream).read_line(&mut reply);
        assert!(
            matches!(read, Ok(n) if n > 0) && reply == line,
            "connection {i} was not served ({read:?}): the server hangs on its full stderr"
        );
    }
    let (status, took) = terminate(&mut child);
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(took < Duration::from_secs(2), "took {took:?} to stop");
    drop(reader); // held open, never read, until the server is gone
}

#[test]
fn out_of_range_flags_are_usage_errors_that_name_the_range() {
    let cases: &[(&[&str], &str)] = &[
        (&["server", "--workers", "100000"], "1..=4096"),
        (&["server", "--workers", "0"], "1..=4096"),
        (&["server", "--max-connections", "0"], "1..=100000"),
        (&["server", "--max-line", "0"], "1..=16777216"),
        (&["server", "--delay-ms", "60001"], "0..=60000"),
        (&["server", "--idle-timeout", "0"], "above 0"),
        (
            &["server", "--max-connection-secs", "1e20"],
            "at most 86400",
        ),
        (&["client", "--connections", "100000"], "1..=4096"),
        (&["client", "--requests", "4000000000"], "1..=10000000"),
        (&["client", "--requests", "0"], "1..=10000000"),
        (&["client", "--timeout", "0"], "above 0"),
        (&["client", "--size", "0"], "1..=16777216"),
        (
            &["client", "--connections", "4096", "--requests", "10000"],
            "at most 10000000 in all",
        ),
        (
            &["client", "--connections", "100", "--size", "16777216"],
            "at most 256 MiB",
        ),
    ];
    for (args, range) in cases {
        let out = run(BIN, args, b"");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(range),
            "{args:?} does not say {range:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn the_largest_accepted_pool_and_client_run_without_aborting() {
    let server = server(&["--workers", "4096", "--max-connections", "5000"]);
    let port = port_of(&server);
    let out = run(
        BIN,
        &[
            "client",
            "--port",
            &port,
            "--connections",
            "4096",
            "--requests",
            "2",
            "--size",
            "1",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("connections=4096 requests=8192 errors=0 "),
        "{}",
        stdout(&out)
    );
}

#[test]
fn server_trace_narrates_each_real_read_with_its_count() {
    use test_support::strace::Attached;
    // Thread mode: the serving thread starts after strace attached, so
    // strace follows it from its first syscall; pool mode: strace -p with
    // -f attaches every thread already running, the workers too.
    for mode in ["single", "thread", "pool"] {
        let server = server(&["--trace", "--mode", mode]);
        let strace = Attached::to(server.pid());
        let mut stream = server.connect();
        // Three requests in one write: one read, three answers.
        stream.write_all(b"one\ntwo\nthree\n").unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        for expected in ["one\n", "two\n", "three\n"] {
            let mut reply = String::new();
            reader.read_line(&mut reply).unwrap();
            assert_eq!(reply, expected);
        }
        assert_eq!(ask(&mut stream, "four\n"), "four\n");
        stream.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        server.wait_stderr("4 requests, closed");
        let calls = strace.finish();
        let accepted = calls
            .iter()
            .find(|c| c.name.starts_with("accept") && c.ret.is_some())
            .expect("an accept in the strace");
        let kernel: Vec<i64> = calls
            .iter()
            .filter(|c| matches!(c.name.as_str(), "read" | "recvfrom") && c.fd == accepted.ret)
            .filter_map(|c| c.ret)
            .collect();
        let told = narrated(&server, "recv");
        assert!(
            kernel.len() >= 3,
            "{mode}: reads on the client's fd: {kernel:?}"
        );
        assert_eq!(
            told, kernel,
            "{mode}: narrated recv() counts vs the kernel's"
        );
        let sent: Vec<i64> = calls
            .iter()
            .filter(|c| matches!(c.name.as_str(), "write" | "sendto") && c.fd == accepted.ret)
            .filter_map(|c| c.ret)
            .collect();
        assert_eq!(
            narrated(&server, "send"),
            sent,
            "{mode}: narrated send() counts"
        );
    }
}

/// The bare example, built (once per test run) by test-support:
/// `cargo test NAME` builds no examples, so a binary left from an earlier
/// build could be stale.
fn bare() -> &'static str {
    static BUILT: OnceLock<String> = OnceLock::new();
    BUILT.get_or_init(|| test_support::example(env!("CARGO"), "tcp-threaded", "tcp-threaded-bare"))
}

#[test]
fn the_bare_server_serves_the_full_client() {
    let server = Server::start(bare(), &["server", "--port", "0"]);
    let port = port_of(&server);
    let out = run(
        BIN,
        &[
            "client",
            "--port",
            &port,
            "--connections",
            "3",
            "--requests",
            "4",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("requests=12 errors=0 "),
        "{}",
        stdout(&out)
    );
    server.wait_stderr_count("closed; lines echoed: 4", 3);
}

#[test]
fn the_full_server_serves_the_bare_client() {
    let server = server(&[]);
    let port = port_of(&server);
    let out = run(bare(), &["client", "--port", &port, "hello", "world"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello\nworld\n");
    server.wait_stderr("2 requests, closed");
}

#[test]
fn the_bare_file_is_short_std_only_and_the_readme_cites_its_lines() {
    let source: Vec<&str> = include_str!("../examples/tcp-threaded-bare.rs")
        .lines()
        .collect();
    assert!(source.len() <= 80, "{} lines", source.len());
    for line in &source {
        if let Some(path) = line.strip_prefix("use ") {
            assert!(path.starts_with("std::"), "not std: {line}");
        }
    }
    let readme = include_str!("../README.md");
    assert!(
        readme.contains(&format!("whole idea in {} lines", source.len())),
        "the README gives the bare file's length ({} lines)",
        source.len()
    );
    for function in ["server", "serve"] {
        let cited = format!("`examples/tcp-threaded-bare.rs`, `{function}()` (lines ");
        let at = readme.find(&cited).expect("the reading order cites it") + cited.len();
        let (first, last) = readme[at..]
            .split_once(')')
            .and_then(|(range, _)| range.split_once('-'))
            .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)))
            .expect("a line range");
        assert!(
            source[first - 1].starts_with(&format!("fn {function}(")),
            "line {first}: {}",
            source[first - 1]
        );
        assert_eq!(source[last - 1], "}", "line {last} ends {function}()");
    }
}

/// The resident memory of process `pid`, in KiB, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_long_line_costs_memory_only_while_it_is_read_and_answered() {
    // The README's promise: a connection holds at most one line of
    // --max-line, and only while it arrives and is answered. Sixteen
    // clients each send one 4 MiB line, read the answer, and stay. Before,
    // each line was copied into the reply (two copies), and both buffers
    // kept their size for the connection's life: 8 MiB per idle client.
    // MALLOC_MMAP_THRESHOLD_ makes glibc map every block of 64 KiB or more
    // on its own and unmap it when freed, so RSS shows what is still held
    // (by default glibc keeps freed memory for reuse).
    let (clients, line_len) = (16, 4 << 20);
    let (child, addr) = spawn_server(
        Command::new(BIN)
            .args(["server", "--port", "0", "--mode", "thread"])
            .args(["--max-line", &line_len.to_string()])
            .env("MALLOC_MMAP_THRESHOLD_", "65536")
            .stderr(Stdio::null()),
    );
    let before = rss_kib(child.0.id());
    let line: Vec<u8> = [vec![b'x'; line_len], vec![b'\n']].concat();
    let mut held = Vec::new();
    for _ in 0..clients {
        let mut stream = test_support::connect(addr);
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let writer = {
            let (mut stream, line) = (stream.try_clone().unwrap(), line.clone());
            thread::spawn(move || stream.write_all(&line).unwrap())
        };
        let mut answer = vec![0; line.len()];
        stream.read_exact(&mut answer).unwrap();
        writer.join().unwrap();
        assert!(answer == line, "the answer differs from the line");
        held.push(stream);
    }
    let after = rss_kib(child.0.id());
    let grown_mib = after.saturating_sub(before) / 1024;
    assert!(
        grown_mib < 16,
        "{clients} idle clients that each sent one 4 MiB line still cost {grown_mib} MiB"
    );
    drop(held);
}
