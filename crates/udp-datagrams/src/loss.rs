//! Simulated packet loss for `--drop-rate`: a tiny seeded generator
//! (xorshift64*), so a run with the same `--seed` drops the same requests.
//! Good enough for a coin flip; not for anything secret.

pub struct Loss {
    rate: f64,
    state: u64,
}

impl Loss {
    pub fn new(rate: f64, seed: u64) -> Self {
        // xorshift must not start at zero (it would stay there forever).
        Loss {
            rate,
            state: (seed ^ 0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    /// True if this datagram should be dropped.
    pub fn drop_next(&mut self) -> bool {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let random = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        // The top 53 bits as a float in [0, 1).
        ((random >> 11) as f64 / (1u64 << 53) as f64) < self.rate
    }
}

/// clap parser for `--drop-rate`: a probability between 0 and 1.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("{rate} is not between 0.0 and 1.0"))
    }
}

#[cfg(test)]
mod tests {
    use super::{Loss, parse_rate};

    #[test]
    fn rates_zero_and_one_are_exact_and_a_seed_repeats() {
        let mut never = Loss::new(0.0, 1);
        let mut always = Loss::new(1.0, 1);
        assert!((0..1000).all(|_| !never.drop_next() && always.drop_next()));
        let run = |seed| {
            let mut loss = Loss::new(0.5, seed);
            (0..64).map(|_| loss.drop_next()).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let dropped = run(7).iter().filter(|d| **d).count();
        assert!((16..=48).contains(&dropped), "{dropped} of 64 at rate 0.5");
    }

    #[test]
    fn rates_outside_zero_to_one_are_refused() {
        assert_eq!(parse_rate("0.25"), Ok(0.25));
        assert!(parse_rate("1.5").is_err());
        assert!(parse_rate("-0.1").is_err());
        assert!(parse_rate("half").is_err());
    }
}
