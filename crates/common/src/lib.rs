//! The few helpers every socket lesson shares, kept small on purpose: a
//! learner should be able to read all of it in a few minutes.
//!
//! - [`endpoint`]: `--host`/`--port` flags, listener setup, client connect;
//! - [`stop`]: Ctrl-C / SIGTERM that wakes a thread blocked in `accept` or `recv`;
//! - [`guard`]: a client stream whose every wait ends on stop, idle or deadline;
//! - [`log`]: `log!` (stderr, never fails) and `out!` (stdout, checked);
//! - [`escape`]: bytes from a peer, escaped before they reach a terminal;
//! - [`trace`]: the `--trace` narration of socket calls on stderr;
//! - [`args`]: flag values range-checked at parse time;
//! - [`report`]: turning an error into one `error: ...` line, a hint, exit 1;
//! - [`load`]: the line-echo load generator (tcp-threaded, event-loop), and
//!   [`percentile`], the one definition of the figure it reports.

pub mod args;
pub mod endpoint;
pub mod escape;
pub mod guard;
pub mod load;
pub mod log;
pub mod percentile;
pub mod report;
pub mod stop;
pub mod trace;
