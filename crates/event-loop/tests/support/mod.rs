//! Helpers shared by this lesson's integration tests.
#![allow(dead_code, unused_imports)] // each test binary uses its own share

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub use test_support::{Server, run, stderr, stdout};

pub const BIN: &str = env!("CARGO_BIN_EXE_event-loop");

/// The full server on port 0 with `extra` flags.
pub fn server(extra: &[&str]) -> Server {
    let mut args = vec!["server", "--port", "0"];
    args.extend_from_slice(extra);
    Server::start(BIN, &args)
}

/// The bare example, built (if stale) and found by test-support.
pub fn bare() -> String {
    test_support::example(env!("CARGO"), "event-loop", "event-loop-bare")
}

/// Sends `question` and reads its answer: bytes up to and including `.`.
pub fn ask(stream: &mut TcpStream, question: &str) -> String {
    stream.write_all(question.as_bytes()).unwrap();
    read_answer(stream)
}

/// Reads one zen answer (up to and including `.`), byte by byte.
pub fn read_answer(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while answer.last() != Some(&b'.') {
        match stream.read(&mut byte) {
            Ok(0) => panic!("EOF after {:?}", String::from_utf8_lossy(&answer)),
            Ok(_) => answer.push(byte[0]),
            Err(e) => panic!("reading an answer after {answer:?}: {e}"),
        }
    }
    String::from_utf8(answer).unwrap()
}

/// True if the server closed `stream` (EOF or reset) within `wait`.
pub fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true, // reset
        }
    }
}

/// Raises this process's descriptor limit to at least `n` (children inherit
/// it). Root may raise the hard limit too; CI runs as root.
pub fn raise_nofile(n: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur >= n {
            return;
        }
        let new = libc::rlimit {
            rlim_cur: n,
            rlim_max: limit.rlim_max.max(n),
        };
        assert_eq!(
            libc::setrlimit(libc::RLIMIT_NOFILE, &new),
            0,
            "cannot raise RLIMIT_NOFILE to {n} (hard limit {}): run as root or raise `ulimit -Hn`",
            limit.rlim_max
        );
    }
}

/// VmRSS of process `pid` in KiB.
pub fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// CPU time (user + system) process `pid` has used, from /proc/PID/stat.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the `(comm)`, which may contain spaces: state is field 3,
    // utime and stime are fields 14 and 15.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / hz)
}
