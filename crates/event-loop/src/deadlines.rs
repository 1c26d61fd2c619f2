//! When each connection's `--idle-timeout` runs out, without looking at
//! every connection on every wake-up.
//!
//! A min-heap of reminders `(when, token, serial)`, soonest first. The loop
//! sleeps in `epoll_wait` no longer than until the first one. Progress on a
//! connection (a request answered, a reply sent) only writes down the time
//! on the connection: moving its reminder in the heap on every request
//! would cost more than the request. So a reminder is a prompt to *check*:
//! when one comes due, the loop looks at the connection's real deadline and
//! either closes it or files a new reminder for that deadline. Each open
//! connection has exactly one live reminder; reminders of connections that
//! closed are skipped (their serial no longer matches) and swept out when
//! they outnumber the live ones.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

#[derive(Default)]
pub struct Deadlines {
    heap: BinaryHeap<Reverse<(Instant, usize, u64)>>,
}

impl Deadlines {
    /// Files a reminder to check connection `token` (number `serial`) at `at`.
    pub fn push(&mut self, at: Instant, token: usize, serial: u64) {
        self.heap.push(Reverse((at, token, serial)));
    }

    /// When the first reminder is due, if any.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The next reminder due at or before `now`, removed from the heap.
    pub fn pop_due(&mut self, now: Instant) -> Option<(usize, u64)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self
                .heap
                .pop()
                .map(|Reverse((_, token, serial))| (token, serial)),
            _ => None,
        }
    }

    /// How many reminders are filed, stale ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Drops every reminder for which `live(token, serial)` is false.
    pub fn sweep(&mut self, live: impl Fn(usize, u64) -> bool) {
        self.heap
            .retain(|Reverse((_, token, serial))| live(*token, *serial));
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::Deadlines;

    #[test]
    fn reminders_come_due_in_time_order() {
        let now = Instant::now();
        let mut deadlines = Deadlines::default();
        deadlines.push(now + Duration::from_secs(3), 3, 30);
        deadlines.push(now + Duration::from_secs(1), 1, 10);
        deadlines.push(now + Duration::from_secs(2), 2, 20);
        assert_eq!(deadlines.next(), Some(now + Duration::from_secs(1)));
        assert_eq!(deadlines.pop_due(now), None);
        let later = now + Duration::from_secs(2);
        assert_eq!(deadlines.pop_due(later), Some((1, 10)));
        assert_eq!(deadlines.pop_due(later), Some((2, 20)));
        assert_eq!(deadlines.pop_due(later), None);
        deadlines.sweep(|token, _| token != 3);
        assert_eq!(deadlines.len(), 0);
    }
}
