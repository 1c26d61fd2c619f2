//! Helpers for the tests that need more control over a process than
//! `test_support::Server` gives: a closed stdout or stderr, stdout drained
//! without keeping it, a client fed from stdin while it runs.

#![allow(dead_code)] // each test binary uses its own share of these

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use test_support::DEADLINE;

pub const BIN: &str = env!("CARGO_BIN_EXE_framing");

/// A child process, killed (SIGKILL) and reaped on drop, even when the
/// test fails half-way.
pub struct Proc {
    pub child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Starts `framing ARGS...` with stdin, stdout and stderr piped.
    pub fn spawn(args: &[&str]) -> Proc {
        let child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
        Proc { child }
    }

    /// Starts a server and reads its `listening on ADDR` line (bounded);
    /// returns it with the rest of its stdout, still open.
    pub fn server(args: &[&str]) -> (Proc, SocketAddr, BufReader<ChildStdout>) {
        let mut proc = Proc::spawn(args);
        let stdout = proc.child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let _ = tx.send((first, reader));
        });
        let (first, rest) = rx
            .recv_timeout(DEADLINE)
            .expect("the server printed its first line in time");
        let addr = first
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line {first:?} is not `listening on ADDR`"))
            .parse()
            .expect("ADDR parses");
        (proc, addr, rest)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdin(&mut self) -> ChildStdin {
        self.child.stdin.take().expect("stdin is piped")
    }

    pub fn stderr(&mut self) -> ChildStderr {
        self.child.stderr.take().expect("stderr is piped")
    }

    /// Waits (bounded by DEADLINE) for the exit; panics if it never comes.
    pub fn wait(&mut self) -> ExitStatus {
        test_support::wait_deadline(&mut self.child, DEADLINE)
            .unwrap_or_else(|| panic!("still running after {DEADLINE:?}"))
    }

    /// Sends `signal`; returns the exit status and how long it took.
    pub fn signal(&mut self, signal: i32) -> (ExitStatus, Duration) {
        let started = Instant::now();
        // SAFETY: kill(2) on a child we spawned and have not reaped.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill failed");
        let status = self.wait();
        (status, started.elapsed())
    }
}

/// Reads everything from `source` on a thread; the text arrives on the
/// returned channel when the source closes.
pub fn collect(mut source: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut text = Vec::new();
        let _ = source.read_to_end(&mut text);
        let _ = tx.send(String::from_utf8_lossy(&text).into_owned());
    });
    rx
}

/// Drains `source` line by line without keeping the lines; the channel
/// gets the number of each line that contains `pattern` as it is read.
pub fn watch_lines(
    source: impl Read + Send + 'static,
    pattern: &'static str,
) -> mpsc::Receiver<u64> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut number = 0;
        for line in BufReader::new(source).split(b'\n') {
            let Ok(line) = line else { break };
            number += 1;
            if line.windows(pattern.len()).any(|w| w == pattern.as_bytes())
                && tx.send(number).is_err()
            {
                break;
            }
        }
    });
    rx
}

/// A `/proc/PID/status` field in kB (`VmHWM`: the peak resident memory;
/// `VmPeak`: the peak of the address space, allocated or not).
pub fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix(" kB")?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}
