//! `--trace`: narrate each socket call on stderr as it happens, in the words
//! a textbook uses (`bind(127.0.0.1:7000)`, `recv() -> 6 bytes`). Narrate a
//! call right after it returns, with what the kernel returned: a trace line
//! is a promise that the syscall happened.

use std::sync::atomic::{AtomicBool, Ordering};

/// One process-wide switch: tracing is a property of the run, not of a socket.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns narration on (from the `--trace` flag) or off.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether narration is on; check it before formatting anything costly.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Prints one narrated socket call on stderr when `--trace` is on, e.g.
/// `narrate!("accept() -> {peer}")` prints `trace: accept() -> 127.0.0.1:51234`.
/// Like [`log!`](crate::log!), it never fails and never panics.
#[macro_export]
macro_rules! narrate {
    ($($arg:tt)*) => {
        if $crate::trace::enabled() {
            $crate::log::stderr_line(format_args!("trace: {}", format_args!($($arg)*)));
        }
    };
}
