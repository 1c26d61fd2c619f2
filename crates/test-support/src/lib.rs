//! Test-only helpers shared by every lesson's integration tests.
//!
//! [`Server`] starts the real lesson binary on `--port 0`, waits for its
//! `listening on ADDR` line (never a sleep), records its stderr, and kills
//! it when dropped, so a failing test leaves no process behind. [`run`] runs
//! a client to completion with a deadline. Every wait here is bounded.

pub mod strace;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single wait in a test may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Lines a child printed, shared with the thread that reads them.
#[derive(Default)]
struct Lines {
    lines: Mutex<Vec<String>>,
    grew: Condvar,
}

impl Lines {
    fn collect(self: &Arc<Self>, source: impl Read + Send + 'static) {
        let me = Arc::clone(self);
        thread::spawn(move || {
            for line in BufReader::new(source).lines() {
                let Ok(line) = line else { break };
                me.lines.lock().unwrap().push(line);
                me.grew.notify_all();
            }
        });
    }

    fn wait_for(&self, pattern: &str, timeout: Duration) -> Option<String> {
        self.wait_for_count(pattern, 1, timeout)
    }

    /// Waits until `count` lines contain `pattern`; returns the last of them.
    fn wait_for_count(&self, pattern: &str, count: usize, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut lines = self.lines.lock().unwrap();
        loop {
            if let Some(found) = lines.iter().filter(|l| l.contains(pattern)).nth(count - 1) {
                return Some(found.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            lines = self.grew.wait_timeout(lines, left).unwrap().0;
        }
    }
}

/// A running lesson server; killed (SIGKILL) on drop if still running.
pub struct Server {
    child: Child,
    addr: SocketAddr,
    stdout: Arc<Lines>,
    stderr: Arc<Lines>,
}

impl Server {
    /// Runs `bin ARGS...` and waits for its first stdout line, which must be
    /// `listening on ADDR`. Pass `--port 0` in `args`.
    pub fn start(bin: &str, args: &[&str]) -> Server {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let stderr = Arc::new(Lines::default());
        stderr.collect(child.stderr.take().unwrap());
        // The first line is read by its own thread so a server that never
        // prints it fails the test after DEADLINE instead of hanging.
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut first = String::new();
            let _ = out.read_line(&mut first);
            let _ = tx.send((first, out));
        });
        let mut server = Server {
            child,
            addr: ([0, 0, 0, 0], 0).into(),
            stdout: Arc::default(),
            stderr,
        };
        let Ok((first, rest)) = rx.recv_timeout(DEADLINE) else {
            panic!(
                "{bin} printed no first line; stderr: {:?}",
                server.stderr_lines()
            );
        };
        let addr = first
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "first line {first:?} is not `listening on ADDR`; stderr: {:?}",
                    server.stderr_lines()
                )
            });
        server.addr = addr.parse().expect("ADDR in `listening on ADDR` parses");
        server.stdout.collect(rest);
        server
    }

    /// The address from the `listening on` line.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id, for sending signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A TCP connection to the server with 5 s read and write timeouts.
    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
    }

    /// Waits until a stderr line contains `pattern`; returns the line.
    pub fn wait_stderr(&self, pattern: &str) -> String {
        self.stderr.wait_for(pattern, DEADLINE).unwrap_or_else(|| {
            panic!(
                "no stderr line with {pattern:?} within {DEADLINE:?}; got {:?}",
                self.stderr_lines()
            )
        })
    }

    /// Waits until `count` stderr lines contain `pattern`.
    pub fn wait_stderr_count(&self, pattern: &str, count: usize) -> String {
        self.stderr.wait_for_count(pattern, count, DEADLINE).unwrap_or_else(|| {
            panic!("fewer than {count} stderr lines with {pattern:?} within {DEADLINE:?}; got {:?}", self.stderr_lines())
        })
    }

    /// Waits until a stdout line (after `listening on`) contains `pattern`.
    pub fn wait_stdout(&self, pattern: &str) -> String {
        self.stdout.wait_for(pattern, DEADLINE).unwrap_or_else(|| {
            panic!(
                "no stdout line with {pattern:?} within {DEADLINE:?}; got {:?}",
                self.stdout_lines()
            )
        })
    }

    /// Waits until the server has printed `count` stdout lines (after
    /// `listening on`) and returns them all. Use this, not
    /// [`Server::stdout_lines`], to check what a server printed: the lines
    /// are read by another thread and may lag behind its stderr.
    pub fn wait_stdout_lines(&self, count: usize) -> Vec<String> {
        self.stdout
            .wait_for_count("", count, DEADLINE)
            .unwrap_or_else(|| {
                panic!(
                    "fewer than {count} stdout lines within {DEADLINE:?}; got {:?}",
                    self.stdout_lines()
                )
            });
        self.stdout_lines()
    }

    /// Everything on stderr so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lines.lock().unwrap().clone()
    }

    /// Everything on stdout so far, after the `listening on` line.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lines.lock().unwrap().clone()
    }

    /// Sends `signal` (e.g. `libc::SIGINT`) and waits for the exit; returns
    /// the status and how long the server took to exit.
    pub fn stop_with(&mut self, signal: i32) -> (ExitStatus, Duration) {
        let started = Instant::now();
        // SAFETY: kill(2) with a pid we spawned and still own (not reaped).
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill({}, {signal}) failed", self.child.id());
        let status = wait_deadline(&mut self.child, DEADLINE)
            .unwrap_or_else(|| panic!("server still running {DEADLINE:?} after signal {signal}"));
        (status, started.elapsed())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP connection to `addr` with 5 s connect, read and write timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let timeout = Duration::from_secs(5);
    let stream = TcpStream::connect_timeout(&addr, timeout)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.set_write_timeout(Some(timeout)).unwrap();
    stream
}

/// A loopback TCP port where nobody listens, held for as long as the
/// returned socket lives: it is bound but not listening, so connecting
/// to it is refused, and no other test can take the port meanwhile
/// (binding port 0 and closing it again would race with parallel tests).
pub fn refused_port() -> (socket2::Socket, u16) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind 127.0.0.1:0");
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    (socket, port)
}

/// Waits for `child` to exit, polling `try_wait` (std has no blocking wait
/// with a timeout), for at most `timeout`; `None` if it is still running.
pub fn wait_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        // Polling a child's exit, not synchronising with it: there is no
        // portable blocking wait with a timeout in std.
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `bin ARGS...` with `stdin` fed in, kills it after [`DEADLINE`], and
/// returns its output. Panics if it had to be killed.
pub fn run(bin: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(output) => output.expect("collecting client output"),
        Err(_) => {
            // SAFETY: kill(2) on the child we spawned; its waiter thread has not reaped it.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("{bin} {args:?} still running after {DEADLINE:?}");
        }
    }
}

/// Stdout of an [`Output`] as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr of an [`Output`] as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The path of example `name` of `package` (a lesson's bare file), built
/// first: `cargo test` builds examples but `cargo test --test bare` does
/// not, so build it here (a no-op when it is fresh), bounded in time, and
/// take its path from cargo's own report. Call it as
/// `example(env!("CARGO"), "tcp-echo", "tcp-echo-bare")`.
pub fn example(cargo: &str, package: &str, name: &str) -> String {
    let mut child = Command::new(cargo)
        .args(["build", "-q", "-p", package, "--example", name])
        .args(["--message-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("running cargo build --example {name}: {e}"));
    let mut json = String::new();
    let mut out = child.stdout.take().expect("cargo's stdout");
    let reader = thread::spawn(move || {
        let _ = out.read_to_string(&mut json);
        json
    });
    // A cold build on a busy machine can take a while; never forever.
    let status = wait_deadline(&mut child, Duration::from_secs(300)).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("cargo build --example {name} took over 300 s")
    });
    assert!(
        status.success(),
        "cargo build --example {name} failed: {status}"
    );
    let json = reader.join().expect("reading cargo's report");
    json.lines()
        .filter(|line| line.contains(r#""reason":"compiler-artifact""#))
        .find_map(|line| {
            let rest = line.split(r#""executable":""#).nth(1)?;
            Some(rest.split('"').next()?.to_string())
        })
        .unwrap_or_else(|| panic!("cargo reported no executable for example {name}"))
}

/// A reader that hands out `data` in chunks of the given `sizes` (cycled;
/// a 0 counts as 1), as TCP may: the one test reader for every decoder
/// (framing's codecs, tcp-threaded's lines, http-basics' bodies).
pub struct Chunky {
    data: Vec<u8>,
    at: usize,
    sizes: Vec<usize>,
    reads: usize,
}

impl Chunky {
    /// `sizes` must not be empty.
    pub fn new(data: Vec<u8>, sizes: Vec<usize>) -> Self {
        assert!(!sizes.is_empty(), "Chunky needs at least one chunk size");
        Chunky {
            data,
            at: 0,
            sizes,
            reads: 0,
        }
    }

    /// How many `read` calls it has answered.
    pub fn reads(&self) -> usize {
        self.reads
    }
}

impl Read for Chunky {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self.sizes[self.reads % self.sizes.len()].max(1);
        self.reads += 1;
        let n = size.min(buf.len()).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
