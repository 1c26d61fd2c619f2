//! `--trace`: narrate each socket call on stderr as it happens, in the words
//! a textbook uses (`bind(127.0.0.1:7000)`, `recv() -> 6 bytes`).

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
#[macro_export]
macro_rules! narrate {
    ($($arg:tt)*) => {
        if $crate::trace::enabled() {
            eprintln!("trace: {}", format_args!($($arg)*));
        }
    };
}
