//! A reply budget per source: a token bucket for each sender (address and
//! port), `rate` tokens a second, holding at most `rate`. Each reply spends
//! one; a sender with an empty bucket gets no reply.
//!
//! A client asks a few times a second at most (the book's client: 5 tries
//! in 3.1 s), so it never notices. A loop with another responder runs as
//! fast as the two can answer, empties the bucket within a burst, and the
//! first unanswered datagram ends it: a loop is one datagram bouncing, and
//! nobody sends the next one. Whatever a responder does, the replies to it
//! are at most `rate` a second plus one burst.
//!
//! Memory is fixed, whatever the senders claim to be: buckets live in a
//! table of [`SLOTS`] entries, picked by a keyed hash of the address (the
//! key is random per run, so nobody can aim at a slot). Two senders whose
//! hashes collide share a bucket; a flood of forged addresses spends
//! budgets, it never grows the table.

use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::time::Instant;

/// How many buckets: 4096 x 24 bytes.
pub const SLOTS: usize = 4096;

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    /// When `tokens` was last brought up to date; `None`: never used (full).
    at: Option<Instant>,
}

pub struct Budget {
    rate: f64,
    slots: Vec<Bucket>,
    hasher: RandomState,
}

impl Budget {
    /// `rate` replies a second per source, in bursts of up to `rate`.
    pub fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        Budget {
            rate,
            slots: vec![
                Bucket {
                    tokens: rate,
                    at: None
                };
                SLOTS
            ],
            hasher: RandomState::new(),
        }
    }

    /// Spends one token of `from`'s bucket; `false` if it is empty.
    pub fn spend(&mut self, from: SocketAddr, now: Instant) -> bool {
        let slot = (self.hasher.hash_one(from) % SLOTS as u64) as usize;
        let bucket = &mut self.slots[slot];
        if let Some(at) = bucket.at {
            let refill = now.saturating_duration_since(at).as_secs_f64() * self.rate;
            bucket.tokens = (bucket.tokens + refill).min(self.rate);
        }
        bucket.at = Some(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Budget;
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    #[test]
    fn a_burst_then_nothing_then_the_rate() {
        let mut budget = Budget::new(10);
        let from: SocketAddr = "127.0.0.1:45000".parse().unwrap();
        let start = Instant::now();
        let burst = (0..100).take_while(|_| budget.spend(from, start)).count();
        assert_eq!(burst, 10, "a burst of `rate`");
        assert!(!budget.spend(from, start + Duration::from_millis(50)));
        // Tokens come back at `rate` a second: half a token at 50 ms, one at 100 ms.
        assert!(budget.spend(from, start + Duration::from_millis(100)));
        assert!(!budget.spend(from, start + Duration::from_millis(100)));
        // Idle for a long time: one full burst again, not more.
        let later = start + Duration::from_secs(3600);
        assert_eq!(
            (0..100).take_while(|_| budget.spend(from, later)).count(),
            10
        );
    }

    #[test]
    fn one_sender_over_budget_leaves_others_alone() {
        let mut budget = Budget::new(3);
        let now = Instant::now();
        let loud: SocketAddr = "127.0.0.1:45000".parse().unwrap();
        while budget.spend(loud, now) {}
        // Other senders: unless a hash collides with `loud`, all get replies.
        let served = (45001..45101)
            .filter(|port| budget.spend(SocketAddr::from(([127, 0, 0, 1], *port)), now))
            .count();
        assert!(served >= 95, "{served} of 100 other senders served");
    }
}
