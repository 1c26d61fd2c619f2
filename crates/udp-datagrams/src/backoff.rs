//! Exponential backoff, the book's udp_remote.py way: wait 0.1 s for a
//! reply, then 0.2, 0.4, 0.8, 1.6, and give up once the next wait would
//! exceed 2.0 s. Doubling keeps a client from hammering a server that is
//! down or overloaded, while a single lost packet costs only 0.1 s.

use std::time::Duration;

/// The successive waits: `initial`, doubling, while they stay <= `max`.
pub fn schedule(initial: Duration, max: Duration) -> impl Iterator<Item = Duration> {
    std::iter::successors(Some(initial), |wait| wait.checked_mul(2))
        .take_while(move |wait| *wait <= max)
}

#[cfg(test)]
mod tests {
    use super::schedule;
    use std::time::Duration;

    #[test]
    fn the_books_schedule_is_five_tries() {
        let waits: Vec<Duration> =
            schedule(Duration::from_millis(100), Duration::from_secs(2)).collect();
        let millis: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [100, 200, 400, 800, 1600]);
    }

    #[test]
    fn a_wait_equal_to_the_maximum_is_still_tried() {
        assert_eq!(
            schedule(Duration::from_millis(500), Duration::from_secs(2)).count(),
            3
        );
        assert_eq!(
            schedule(Duration::from_secs(3), Duration::from_secs(2)).count(),
            0
        );
    }
}
