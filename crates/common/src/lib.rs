//! The few helpers every socket lesson shares, kept small on purpose: a
//! learner should be able to read all of it in a few minutes.
//!
//! - [`endpoint`]: `--host`/`--port` flags, listener setup, client connect;
//! - [`stop`]: Ctrl-C / SIGTERM that also wakes a thread blocked in `accept`;
//! - [`trace`]: the `--trace` narration of socket calls on stderr;
//! - [`report`]: turning an error into one `error: ...` line, a hint, exit 1.

pub mod endpoint;
pub mod report;
pub mod stop;
pub mod trace;
