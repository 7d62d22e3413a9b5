//! Reproducible randomness: every draw of a run is a function of the run's seed and of *what* it
//! is for (the stream), *who* draws it and *when*.
//!
//! Counter-based draws (a hash of `seed, stream, agent, round`) rather than one shared generator:
//! the three policies then meet the same contexts and the same luck (common random numbers), so
//! their differences are not noise, and no policy's extra draws shift another's.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What a draw is for.
#[derive(Clone, Copy, Debug)]
#[repr(u64)]
pub(crate) enum Stream {
    /// The world's hidden rates.
    World = 1,
    /// Which context an agent meets.
    Context = 2,
    /// Whether the chosen option succeeds.
    Outcome = 3,
    /// The decision rule's own randomness (Thompson sampling).
    Decide = 4,
    /// A replicate's seed.
    Replicate = 5,
}

/// SplitMix64's finaliser: a bijective 64-bit mix.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 64-bit hash of a sequence of numbers (order matters).
pub(crate) fn mix(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0x5149_535f_5349_4d00, |h, &p| splitmix(h ^ splitmix(p)))
}

/// A uniform number in [0, 1) from 53 bits of `h`.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The decision rule's generator for agent `agent` in round `round`.
pub(crate) fn decision_rng(seed: u64, agent: usize, round: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(&[
        seed,
        Stream::Decide as u64,
        agent as u64,
        round as u64,
    ]))
}

/// The seed of replicate `replicate` of a run seeded `seed`.
pub(crate) fn replicate_seed(seed: u64, replicate: usize) -> u64 {
    mix(&[seed, Stream::Replicate as u64, replicate as u64])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_uniform_enough_and_distinct_per_stream() {
        let n = 100_000;
        let mean = (0..n).map(|i| unit(mix(&[7, 2, i, 0]))).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        assert_ne!(mix(&[7, 2, 1, 0]), mix(&[7, 3, 1, 0]));
        assert_ne!(mix(&[7, 2, 1, 0]), mix(&[7, 2, 0, 1]));
        assert!((0..1000).all(|i| (0.0..1.0).contains(&unit(mix(&[i])))));
    }
}
