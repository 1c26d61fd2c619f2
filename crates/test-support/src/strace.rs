//! Checking `--trace` against the kernel: run a lesson (or attach to a
//! running server) under `strace -ff`, then compare the syscalls that really
//! happened with the lines the lesson narrated.
//!
//! `strace -ff -o DIR/t` writes one file per thread (`t.PID`), so a line is
//! never split into `<unfinished ...>` and `<... resumed>` halves.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use crate::{DEADLINE, wait_deadline};

/// The syscalls the lessons narrate, and the ones they use to wait.
pub const SYSCALLS: &str = "socket,bind,listen,accept,accept4,connect,read,recvfrom,recvmsg,\
write,sendto,sendmsg,writev,shutdown,close,poll,ppoll,setsockopt";

/// One completed syscall from a strace file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syscall {
    /// The thread that made it.
    pub tid: u32,
    pub name: String,
    /// The first argument when it is a number (the descriptor, for most).
    pub fd: Option<i64>,
    /// The return value (bytes, a descriptor, 0), or `None` for -1 (an error).
    pub ret: Option<i64>,
    /// The whole line, for messages.
    pub line: String,
}

/// A fresh directory for one run's strace files.
fn trace_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("strace-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a directory for strace output");
    dir
}

fn strace(dir: &Path) -> Command {
    let mut command = Command::new("strace");
    command.args(["-ff", "-qq", "-s", "0", "-e"]);
    command
        .arg(format!("trace={SYSCALLS}"))
        .arg("-o")
        .arg(dir.join("t"));
    command
}

/// Runs `bin ARGS...` to completion under strace (bounded by [`DEADLINE`]);
/// returns its output and every syscall of every thread, file by file.
pub fn run(bin: &str, args: &[&str]) -> (Output, Vec<Syscall>) {
    let dir = trace_dir();
    let child = strace(&dir)
        .arg("--")
        .arg(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting strace (is it installed? apt-get install strace)");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(DEADLINE) {
        Ok(output) => output.expect("collecting output"),
        Err(_) => {
            // SAFETY: kill(2) on the strace we spawned (it kills its tracee).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("{bin} {args:?} under strace still running after {DEADLINE:?}");
        }
    };
    (output, read_dir(&dir))
}

/// strace attached to a running process (every thread, and threads it
/// starts later) until [`Attached::finish`].
pub struct Attached {
    child: Child,
    dir: PathBuf,
}

impl Attached {
    /// Attaches to `pid` and returns once strace says it is attached to it,
    /// so nothing the test does afterwards is missed.
    pub fn to(pid: u32) -> Attached {
        let dir = trace_dir();
        let mut child = strace(&dir)
            .args(["-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting strace (is it installed? apt-get install strace)");
        // -qq hides strace's "attached" message; the trace file of `pid`
        // appears once it is attached, so wait for that.
        let stderr = child.stderr.take().expect("strace stderr");
        thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
        let file = dir.join(format!("t.{pid}"));
        let started = Instant::now();
        while !file.exists() {
            assert!(
                started.elapsed() < DEADLINE,
                "strace did not attach to {pid}"
            );
            // Polling for a file strace creates once attached; no event exists.
            thread::sleep(std::time::Duration::from_millis(5));
        }
        Attached { child, dir }
    }

    /// For a process that ends by itself: waits for it to exit (strace ends
    /// when its last traced thread has) and returns every syscall seen.
    /// Use this, not [`Attached::finish`], when the process may be exiting
    /// at that moment: strace told to detach from a process in the middle
    /// of its exit can hang (it did, once in CI, for udp-realtime's
    /// receiver, which exits after its report).
    pub fn until_exit(mut self) -> Vec<Syscall> {
        wait_deadline(&mut self.child, DEADLINE)
            .expect("the traced process exited, and strace with it");
        read_dir(&self.dir)
    }

    /// Detaches (SIGINT to strace) and returns every syscall seen.
    pub fn finish(mut self) -> Vec<Syscall> {
        // SAFETY: kill(2) on the strace we spawned; SIGINT makes it detach.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        wait_deadline(&mut self.child, DEADLINE).expect("strace detached");
        read_dir(&self.dir)
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every syscall in every `t.TID` file of `dir`, thread by thread.
fn read_dir(dir: &Path) -> Vec<Syscall> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("reading the strace directory")
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    let mut calls = Vec::new();
    for file in files {
        let tid = file
            .extension()
            .and_then(|e| e.to_str())
            .and_then(|e| e.parse().ok());
        let text = std::fs::read_to_string(&file).expect("reading a strace file");
        calls.extend(
            text.lines()
                .filter_map(|line| parse(tid.unwrap_or(0), line)),
        );
    }
    let _ = std::fs::remove_dir_all(dir);
    calls
}

/// `recvfrom(3, ""..., 65536, 0, NULL, NULL) = 5` -> a [`Syscall`]; signal
/// and exit lines (`--- SIGINT ---`, `+++ exited +++`) -> `None`.
pub fn parse(tid: u32, line: &str) -> Option<Syscall> {
    let open = line.find('(')?;
    let name = &line[..open];
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    // strace pads short calls: `close(6)                  = 0`.
    let (call, ret) = line.rsplit_once(" = ")?;
    if !call.trim_end().ends_with(')') {
        return None;
    }
    let ret = ret
        .split_whitespace()
        .next()?
        .parse::<i64>()
        .ok()
        .filter(|r| *r >= 0);
    let first = line[open + 1..].split([',', ')']).next()?;
    Some(Syscall {
        tid,
        name: name.to_string(),
        fd: first.trim().parse().ok(),
        ret,
        line: line.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_what_strace_prints() {
        let call = parse(7, r#"recvfrom(3, ""..., 65536, 0, NULL, NULL) = 5"#).unwrap();
        assert_eq!(
            (call.tid, call.name.as_str(), call.fd, call.ret),
            (7, "recvfrom", Some(3), Some(5))
        );
        let failed = parse(
            7,
            "read(4, 0x7ff, 8192) = -1 EAGAIN (Resource temporarily unavailable)",
        )
        .unwrap();
        assert_eq!(failed.ret, None);
        let accept = parse(
            7,
            "accept4(3, {sa_family=AF_INET, sin_port=htons(5)}, [16], SOCK_CLOEXEC) = 4",
        )
        .unwrap();
        assert_eq!((accept.fd, accept.ret), (Some(3), Some(4)));
        let padded = parse(7, "close(6)                                = 0").unwrap();
        assert_eq!(
            (padded.name.as_str(), padded.fd, padded.ret),
            ("close", Some(6), Some(0))
        );
        assert!(parse(7, "--- SIGINT {si_signo=SIGINT} ---").is_none());
        assert!(parse(7, "+++ exited with 0 +++").is_none());
    }
}
