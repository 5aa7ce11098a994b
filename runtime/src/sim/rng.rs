//! The simulation's one source of chance: every latency, every loss and duplicate, every
//! `buggify!` is drawn from it, in the order the run asks, so one seed gives one run.
//!
//! SplitMix64: one add and three mixing steps per draw, a period of 2^64, and no state beyond a
//! counter. It is not for cryptography; it only has to be fast, repeatable and evenly spread.

/// A seeded generator of 64-bit numbers.
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    /// A generator that starts from `seed` (the same seed, the same numbers).
    pub(crate) fn new(seed: u64) -> Rng {
        // Mixed once, so that seeds 1, 2, 3 do not start from neighbouring states.
        let mut rng = Rng {
            state: seed ^ 0x5EED_51A1_u64.rotate_left(32),
        };
        rng.next_u64();
        rng
    }

    /// The next number.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..=high` (`low` if the range is empty).
    pub(crate) fn between(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        let span = high - low;
        match span.checked_add(1) {
            Some(count) => low + self.next_u64() % count,
            None => self.next_u64(),
        }
    }

    /// True with probability `p` (0 never, 1 always).
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        // 53 bits: a uniform double in [0, 1).
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit < p
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn the_same_seed_draws_the_same_numbers_and_another_seed_others() {
        let draw = |seed| {
            (0..8)
                .map(|_| Rng::new(seed).next_u64())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn between_stays_in_its_range_and_chance_follows_its_rate() {
        let mut rng = Rng::new(9);
        assert!((0..1000).all(|_| (3..=5).contains(&rng.between(3, 5))));
        let hits = (0..10_000).filter(|_| rng.chance(0.25)).count();
        assert!((2_000..3_000).contains(&hits), "{hits} of 10,000 at 0.25");
        assert!(!(0..1000).any(|_| rng.chance(0.0)));
    }
}
