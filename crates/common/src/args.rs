//! Flag values checked when they are parsed: a value that cannot make sense
//! is a usage error (exit 2, saying the range) before any socket is made,
//! never a panic or a wrapped number later.

use std::time::Duration;

/// The longest wait any flag may ask for: a day. Longer is surely a typo,
/// and `Instant + Duration` must never overflow.
pub const MAX_SECS: f64 = 86_400.0;

/// A timeout or deadline in seconds: a decimal number above 0, at most a day.
pub fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= MAX_SECS) {
        return Err(format!(
            "must be above 0 and at most {MAX_SECS} seconds (a day)"
        ));
    }
    // A Duration counts whole nanoseconds: 1e-10 is above 0 but becomes 0,
    // a timeout that every socket call refuses, long after parsing.
    let duration = Duration::from_secs_f64(secs);
    if duration.is_zero() {
        return Err(format!(
            "`{text}` seconds rounds to 0 (the clock counts nanoseconds): must be above 0 \
             and at most {MAX_SECS} seconds (a day)"
        ));
    }
    Ok(duration)
}
