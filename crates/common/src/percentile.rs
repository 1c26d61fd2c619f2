//! The one definition of a percentile in this repository: nearest rank.
//! The p-th percentile of n sorted samples is the sample at rank
//! ceil(p/100 * n), counting from 1: a value that was really measured, and
//! at least p% of the samples are at or below it. The load client
//! (`common::load`) and bench/loadgen (which includes this file) report the
//! same figure for the same data.
//!
//! This file stands alone (no `use crate::`) so that loadgen can include it.

/// The p-th percentile (0 < p <= 100) of `sorted` (ascending); 0 when empty.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50.0), 50);
        assert_eq!(percentile(&samples, 99.0), 99);
        assert_eq!(percentile(&samples, 100.0), 100);
        // Two samples: the median is the lower one (rank ceil(1.0) = 1).
        assert_eq!(percentile(&[10, 20], 50.0), 10);
        // Ten samples: p99 is the largest (rank ceil(9.9) = 10).
        let ten: Vec<u64> = (1..=10).collect();
        assert_eq!(percentile(&ten, 99.0), 10);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
