//! Where a lesson writes: diagnostics to stderr with [`log!`](crate::log!),
//! its output to stdout with [`out!`](crate::out!).
//!
//! `println!` and `eprintln!` panic when their pipe is closed (`server 2>&1 |
//! head -1`): a server would die at its next log line, a worker thread with
//! it, a signal handler before it could stop anything. So the two sides get
//! different rules. A log line that cannot be written is dropped (and
//! counted): losing a diagnostic must never cost a connection. A line of
//! output that cannot be written is an error the caller must handle: when
//! nobody reads what a lesson shows, carrying on would be lying to its peers.

use std::fmt::Arguments;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

static DROPPED: AtomicU64 = AtomicU64::new(0);

/// `log!("{peer}: connected")`: one line on stderr; never fails, never panics.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log::stderr_line(format_args!($($arg)*))
    };
}

/// `out!("{echo}")?`: one line on stdout; `Err` ("writing to stdout: Broken
/// pipe") when nobody reads it any more.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::log::stdout_line(format_args!($($arg)*))
    };
}

/// The function behind [`log!`](crate::log!). The line is formatted first and
/// written with one `write` call, so lines from threads never interleave.
pub fn stderr_line(args: Arguments) {
    let line = format!("{args}\n");
    if std::io::stderr().lock().write_all(line.as_bytes()).is_err() {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// The function behind [`out!`](crate::out!).
pub fn stdout_line(args: Arguments) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{args}")
        .and_then(|()| stdout.flush())
        .context("writing to stdout")
}

/// How many log lines could not be written (stderr closed or failing).
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}
