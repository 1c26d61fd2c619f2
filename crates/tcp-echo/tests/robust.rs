//! The contract at its edges: closed pipes, a terminal on stdin, every
//! value the command line accepts, and IPv6 in every spelling.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use test_support::{DEADLINE, Server, run, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_tcp-echo");

fn server(extra: &[&str]) -> Server {
    let mut args = vec!["server", "--port", "0"];
    args.extend_from_slice(extra);
    Server::start(BIN, &args)
}

/// A pipe whose reading end is already closed: a write to it fails with
/// EPIPE, as when the reader of `client | head -c0` has exited.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    writer.into()
}

/// A child that is killed and reaped however the test ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Reaped {
    /// Waits for the exit, for at most `timeout`.
    fn wait_for(&mut self, timeout: Duration) -> Option<ExitStatus> {
        test_support::wait_deadline(&mut self.0, timeout)
    }
}

/// Runs the lesson with the given stdout and stderr (stdin empty) to its
/// end, killed after the deadline.
fn run_with(args: &[&str], out: Stdio, err: Stdio) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("starting tcp-echo");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(output) => output.expect("collecting the output"),
        Err(_) => {
            // SAFETY: kill(2) on the child we spawned; its waiter has not reaped it.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("tcp-echo {args:?} still running after {DEADLINE:?}");
        }
    }
}

// ------------------------------------------------------------ closed pipes

#[test]
fn a_closed_stdout_ends_the_client_with_an_error_not_a_panic() {
    let server = server(&[]);
    let port = server.addr().port().to_string();
    for args in [
        &["client", "--port", &port, "hello"][..],
        &["client", "--port", &port, "--bytes", "1000"],
    ] {
        let out = run_with(args, closed_pipe(), Stdio::piped());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.starts_with("error: writing to stdout: Broken pipe"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn a_closed_stderr_never_stops_the_client() {
    let server = server(&[]);
    let port = server.addr().port().to_string();
    // --trace writes a line per syscall into the closed pipe.
    let out = run_with(
        &["client", "--trace", "--port", &port, "hello"],
        Stdio::piped(),
        closed_pipe(),
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "hello\n");
    // A failure whose `error:` line cannot be written is still exit 1.
    let (_held, refused) = test_support::refused_port();
    let refused = refused.to_string();
    let out = run_with(
        &["client", "--port", &refused, "hello"],
        Stdio::piped(),
        closed_pipe(),
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_closed_stderr_never_stops_the_server_and_sigterm_still_works() {
    let child = Command::new(BIN)
        .args(["server", "--trace", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(closed_pipe())
        .spawn()
        .expect("starting the server");
    let mut server = Reaped(child);
    let port = listening_port(&mut server);
    // Every connection logs (and traces) into the closed pipe; each must
    // still be served, by the same process.
    for message in ["one", "two", "three"] {
        let out = run(BIN, &["client", "--port", &port, message], b"");
        assert!(out.status.success(), "{message}: {}", stderr(&out));
        assert_eq!(stdout(&out), format!("{message}\n"));
    }
    let started = Instant::now();
    // SAFETY: kill(2) on the server we spawned and have not reaped.
    let rc = unsafe { libc::kill(server.0.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let status = server
        .wait_for(DEADLINE)
        .expect("the server ignored SIGTERM");
    assert!(status.success(), "exit status {status}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?} to stop");
}

/// The port of a server started by hand, from its `listening on` line
/// (read on a thread, so a server that never prints it fails the test).
fn listening_port(server: &mut Reaped) -> String {
    let mut lines = BufReader::new(server.0.stdout.take().expect("stdout"));
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut first = String::new();
        let _ = lines.read_line(&mut first);
        let _ = tx.send(first);
    });
    let first = rx.recv_timeout(DEADLINE).expect("a `listening on` line");
    first
        .trim_end()
        .rsplit_once(':')
        .map(|(_, port)| port.to_string())
        .expect("listening on ADDR")
}

/// A stderr that nobody reads (`server 2>&1 | less`, left paused; a
/// supervisor that never drains the pipe) fills up, and then a plain write
/// to it blocks: the server stalled at its next log line, and the signal
/// handler at its own, so SIGTERM never stopped it. Here the pipe holds one
/// page and is never read: every client must still be served, and SIGTERM
/// must still end the server within 2 s.
#[test]
fn a_stderr_nobody_reads_never_stalls_the_server_nor_its_stop() {
    let (reader, writer) = std::io::pipe().expect("pipe");
    // One page (the smallest pipe), so a few traced connections fill it.
    // SAFETY: fcntl on a pipe descriptor we own.
    let size = unsafe { libc::fcntl(writer.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    assert!(
        size > 0,
        "F_SETPIPE_SZ: {}",
        std::io::Error::last_os_error()
    );
    let child = Command::new(BIN)
        .args(["server", "--trace", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(writer)
        .spawn()
        .expect("starting the server");
    let mut server = Reaped(child);
    let port = listening_port(&mut server);
    for i in 0..40 {
        let message = format!("message {i}");
        let out = run(
            BIN,
            &["client", "--port", &port, "--timeout", "5", &message],
            b"",
        );
        assert!(out.status.success(), "client {i}: {}", stderr(&out));
        assert_eq!(stdout(&out), format!("{message}\n"));
    }
    // The test means something only if the pipe really is full by now.
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int: the bytes waiting in the pipe.
    let rc = unsafe { libc::ioctl(reader.as_raw_fd(), libc::FIONREAD, &mut queued) };
    assert_eq!(rc, 0);
    assert!(
        queued as usize > size as usize / 2,
        "only {queued} bytes in the pipe"
    );
    let started = Instant::now();
    // SAFETY: kill(2) on the server we spawned and have not reaped.
    let rc = unsafe { libc::kill(server.0.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let status = server
        .wait_for(DEADLINE)
        .expect("the server ignored SIGTERM");
    let took = started.elapsed();
    assert!(status.success(), "exit status {status}");
    assert!(took < Duration::from_secs(2), "took {took:?} to stop");
    drop(reader);
}

// ------------------------------------------------------- stdin a terminal

/// A pseudo-terminal: (the side a terminal emulator holds, the side a
/// program gets as its stdin).
fn pty() -> (File, File) {
    // SAFETY: plain libc calls on a descriptor we own; ptsname_r writes
    // at most `name.len()` bytes, NUL included.
    unsafe {
        let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(fd >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        let master = File::from_raw_fd(fd);
        assert_eq!(libc::grantpt(fd), 0, "grantpt");
        assert_eq!(libc::unlockpt(fd), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(
            libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()),
            0
        );
        let path = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_str()
            .expect("a UTF-8 pts path")
            .to_string();
        let terminal = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&path)
            .unwrap_or_else(|e| panic!("opening {path}: {e}"));
        (master, terminal)
    }
}

#[test]
fn a_client_reading_a_terminal_says_so_then_echoes_what_is_typed() {
    let server = server(&[]);
    let port = server.addr().port().to_string();
    let (mut keyboard, terminal) = pty();
    let child = Command::new(BIN)
        .args(["client", "--port", &port])
        .stdin(terminal)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the client");
    let mut client = Reaped(child);
    let err = client.0.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let note = rx.recv_timeout(DEADLINE).expect("a note on stderr");
    assert!(
        note.contains("type lines to send, Ctrl-D to finish"),
        "{note}"
    );
    // A line, then Ctrl-D at the start of the next: end of input.
    keyboard.write_all(b"typed\n\x04").expect("typing");
    let status = client.wait_for(DEADLINE).expect("the client to finish");
    let mut echoed = String::new();
    let mut out = client.0.stdout.take().expect("stdout");
    std::io::Read::read_to_string(&mut out, &mut echoed).expect("stdout");
    assert!(status.success(), "exit status {status}");
    assert_eq!(echoed, "typed\n");
}

// ------------------------------------------------------- stdin a stream

#[test]
fn a_long_stdin_line_goes_out_in_pieces_before_it_ends() {
    // Buffering whole lines would let `cat /dev/zero | client` eat memory
    // until it aborts. Here one 200 KB line is written and stdin left
    // open: its first 64 KiB must come back before the line ends.
    let server = server(&[]);
    let port = server.addr().port().to_string();
    let child = Command::new(BIN)
        .args(["client", "--port", &port])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the client");
    let mut client = Reaped(child);
    let mut input = client.0.stdin.take().expect("stdin");
    let mut output = client.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = [0u8; 64 * 1024];
        while let Ok(n @ 1..) = std::io::Read::read(&mut output, &mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let line = vec![b'x'; 200_000];
    let writer = thread::spawn(move || {
        input.write_all(&line).expect("writing stdin");
        input // still open: the line has not ended
    });
    let deadline = Instant::now() + DEADLINE;
    let mut echoed = Vec::new();
    while echoed.len() < 64 * 1024 {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_default();
        match rx.recv_timeout(left) {
            Ok(chunk) => echoed.extend(chunk),
            Err(_) => panic!(
                "only {} bytes echoed while the line was open: the client holds whole lines",
                echoed.len()
            ),
        }
    }
    drop(writer.join().expect("the stdin writer")); // EOF on stdin
    let status = client.wait_for(DEADLINE).expect("the client to finish");
    assert!(status.success(), "exit status {status}");
    while let Ok(chunk) = rx.recv_timeout(DEADLINE) {
        echoed.extend(chunk);
    }
    assert_eq!(echoed.len(), 200_001, "the line and a final newline");
    assert!(echoed[..200_000].iter().all(|&b| b == b'x'));
    assert_eq!(echoed.last(), Some(&b'\n'));
}

/// Someone typing into the client when the server goes away: the next line
/// finds the connection closed, and the client must say so at once. It used
/// to wait for the writer thread, which sat reading the terminal, so the
/// error came only after yet another line (or Ctrl-D).
#[test]
fn a_vanished_server_is_reported_at_the_next_line_while_stdin_stays_open() {
    let mut server = server(&[]);
    let port = server.addr().port().to_string();
    let child = Command::new(BIN)
        .args(["client", "--port", &port])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the client");
    let mut client = Reaped(child);
    let mut input = client.0.stdin.take().expect("stdin");
    let mut output = BufReader::new(client.0.stdout.take().expect("stdout"));
    input.write_all(b"one\n").unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = output.read_line(&mut line);
        let _ = tx.send(line);
    });
    assert_eq!(rx.recv_timeout(DEADLINE).expect("the first echo"), "one\n");
    let (status, _) = server.stop_with(libc::SIGTERM);
    assert!(status.success());
    input.write_all(b"two\n").unwrap(); // and stdin stays open
    let status = client
        .wait_for(DEADLINE)
        .expect("the client to give up while stdin is still open");
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut client.0.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.starts_with("error: reading an echo"), "{err}");
    drop(input);
}

/// Peak memory (VmHWM, KiB) of a client that echoes `input` from stdin,
/// with stdout left unread until the client stops taking stdin (or 2 s
/// pass), as behind a paused `less`.
fn peak_kib_echoing(port: &str, input: Vec<u8>) -> u64 {
    let child = Command::new(BIN)
        .args(["client", "--port", port])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the client");
    let pid = child.id();
    let mut client = Reaped(child);
    let mut stdin = client.0.stdin.take().expect("stdin");
    let mut output = client.0.stdout.take().expect("stdout");
    let mut errors = client.0.stderr.take().expect("stderr");
    let len = input.len();
    let (fed_tx, fed_rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = stdin.write_all(&input);
        let _ = fed_tx.send(());
    });
    // A client that keeps a note per message in flight takes all of stdin
    // at once; one that bounds them stops taking it. Either way, go on.
    let _ = fed_rx.recv_timeout(Duration::from_secs(2));
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut echoed = Vec::new();
        let _ = std::io::Read::read_to_end(&mut output, &mut echoed);
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(&mut errors, &mut err);
        let _ = done_tx.send((echoed.len(), err));
    });
    let (echoed, err) = done_rx
        .recv_timeout(DEADLINE)
        .expect("the client to finish");
    assert_eq!(echoed, len, "every line echoed: {err}");
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut status = 0;
        // SAFETY: wait4 on our own child, with room for its status and usage.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let reaped =
            unsafe { libc::wait4(pid as libc::pid_t, &mut status, libc::WNOHANG, &mut usage) };
        if reaped == pid as libc::pid_t {
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "{err}"
            );
            return usage.ru_maxrss as u64;
        }
        assert!(Instant::now() < deadline, "the client did not exit");
        // Polling an exit (no wait with a timeout exists), not a sync.
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn many_short_stdin_lines_in_flight_keep_memory_bounded() {
    // Each stdin line is a message the reader must be told about. A note
    // per message in flight grew with everything the socket buffers held:
    // `yes "" | client` reached 60 MB in 20 s (client receive buffers grow
    // to 32 MiB here, and every byte of it was a one-byte message).
    let server = server(&[]);
    let port = server.addr().port().to_string();
    let one_line = peak_kib_echoing(&port, b"hello\n".to_vec());
    let many_lines = peak_kib_echoing(&port, vec![b'\n'; 512 * 1024]);
    assert!(
        many_lines < one_line + 4 * 1024,
        "peak {many_lines} KiB for 512 Ki empty lines, {one_line} KiB for one"
    );
}

// ------------------------------------------------- every value accepted

#[test]
fn out_of_range_seconds_are_usage_errors_that_say_the_range() {
    for (args, says) in [
        (&["client", "--timeout", "0", "x"][..], "above 0"),
        (&["client", "--timeout=-1", "x"], "above 0"),
        (&["client", "--timeout", "1e20", "x"], "at most 86400"),
        (&["client", "--timeout", "NaN", "x"], "above 0"),
        (&["client", "--timeout", "inf", "x"], "at most 86400"),
        (&["client", "--timeout", "ten", "x"], "not a number"),
        (&["server", "--idle-timeout", "0"], "above 0"),
        (&["client", "--timeout", "1e-10", "x"], "rounds to 0"),
        (&["server", "--idle-timeout", "1e-12"], "rounds to 0"),
        (
            &["server", "--max-connection-secs", "1e30"],
            "at most 86400",
        ),
        (&["client", "--bytes=-1"], "invalid value"),
        (&["client", "--port", "65536", "x"], "invalid value"),
    ] {
        let out = run(BIN, args, b"");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn values_at_the_edges_of_their_ranges_work() {
    let server = server(&["--idle-timeout", "86400", "--max-connection-secs", "86400"]);
    let port = server.addr().port().to_string();
    let out = run(BIN, &["client", "--port", &port, "--bytes", "0"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("echoed 0 bytes in "),
        "{}",
        stdout(&out)
    );
    let out = run(
        BIN,
        &["client", "--port", &port, "--timeout", "86400", ""],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "\n",
        "an empty message echoes as an empty line"
    );
    // A microsecond may well time out, but it must say so, not panic.
    let out = run(
        BIN,
        &["client", "--port", &port, "--timeout", "0.000001", "x"],
        b"",
    );
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{:?}: {}",
        out.status,
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    let tiny = Server::start(
        BIN,
        &["server", "--port", "0", "--idle-timeout", "0.000001"],
    );
    let out = run(
        BIN,
        &["client", "--port", &tiny.addr().port().to_string(), "x"],
        b"",
    );
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    tiny.wait_stderr("127.0.0.1:");
    assert!(
        !tiny.stderr_lines().iter().any(|l| l.contains("panicked")),
        "{:?}",
        tiny.stderr_lines()
    );
}

// ----------------------------------------------------------------- IPv6

/// These tests need ::1; a machine without it fails them (never a skip).
fn require_ipv6_loopback() {
    TcpListener::bind("[::1]:0")
        .unwrap_or_else(|e| panic!("IPv6 loopback [::1] is required (enable IPv6 on lo): {e}"));
}

#[test]
fn server_and_client_speak_ipv6_written_plain_or_bracketed() {
    require_ipv6_loopback();
    for server_host in ["::1", "[::1]"] {
        let server = Server::start(BIN, &["server", "--host", server_host, "--port", "0"]);
        assert_eq!(
            server.addr().ip().to_string(),
            "::1",
            "--host {server_host}"
        );
        let port = server.addr().port().to_string();
        for client_host in ["::1", "[::1]"] {
            let out = run(
                BIN,
                &["client", "--host", client_host, "--port", &port, "over v6"],
                b"",
            );
            assert!(out.status.success(), "{client_host}: {}", stderr(&out));
            assert_eq!(stdout(&out), "over v6\n", "{server_host} <- {client_host}");
        }
        server.wait_stderr_count("[::1]:", 2);
    }
}

#[test]
fn an_ipv4_mapped_address_means_the_ipv4_address() {
    let server = Server::start(
        BIN,
        &["server", "--host", "::ffff:127.0.0.1", "--port", "0"],
    );
    assert_eq!(server.addr().ip().to_string(), "127.0.0.1");
    let port = server.addr().port().to_string();
    for host in ["::ffff:127.0.0.1", "[::ffff:127.0.0.1]", "127.0.0.1"] {
        let out = run(
            BIN,
            &["client", "--host", host, "--port", &port, "mapped"],
            b"",
        );
        assert!(out.status.success(), "{host}: {}", stderr(&out));
        assert_eq!(stdout(&out), "mapped\n", "{host}");
    }
}
