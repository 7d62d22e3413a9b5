//! Locality-sensitive hashing of vectors: signed random projections into buckets, and the
//! neighbouring buckets a query probes.

/// Signed random projections: `tables × bits` hyperplanes, the same on every machine (drawn from
/// xxh3 of the network name, not from a library RNG whose stream may change between versions).
#[derive(Debug)]
pub(super) struct Planes {
    tables: usize,
    bits: usize,
    dimension: usize,
    /// `tables × bits × dimension` Gaussian entries.
    normals: Vec<f32>,
}

impl Planes {
    pub(super) fn new(tables: usize, bits: usize, dimension: usize, network: &str) -> Self {
        let seed = xxhash_rust::xxh3::xxh3_64(network.as_bytes());
        let n = tables * bits * dimension;
        let normals = (0..n)
            .map(|i| {
                // Box–Muller on two uniforms in (0, 1].
                let u = |k: u64| {
                    let h = xxhash_rust::xxh3::xxh3_64_with_seed(
                        &(i as u64 * 2 + k).to_le_bytes(),
                        seed,
                    );
                    ((h >> 11) as f64 + 1.0) / (1u64 << 53) as f64
                };
                let (u1, u2) = (u(0), u(1));
                ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
            })
            .collect();
        Planes {
            tables,
            bits,
            dimension,
            normals,
        }
    }

    /// The bucket of `v` in each table.
    pub(super) fn codes(&self, v: &[f32]) -> Vec<u32> {
        debug_assert_eq!(v.len(), self.dimension);
        (0..self.tables)
            .map(|t| {
                (0..self.bits).fold(0u32, |code, b| {
                    let start = (t * self.bits + b) * self.dimension;
                    let plane = &self.normals[start..start + self.dimension];
                    let side = plane.iter().zip(v).map(|(p, x)| p * x).sum::<f32>() >= 0.0;
                    code | (u32::from(side) << b)
                })
            })
            .collect()
    }
}

/// `code` and every code within Hamming distance `radius` (0–2) of it, over `bits` bits.
pub(super) fn probes(code: u32, bits: usize, radius: usize) -> Vec<u32> {
    let mut out = vec![code];
    if radius >= 1 {
        for i in 0..bits {
            out.push(code ^ (1 << i));
        }
    }
    if radius >= 2 {
        for i in 0..bits {
            for j in i + 1..bits {
                out.push(code ^ (1 << i) ^ (1 << j));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_cover_the_hamming_ball() {
        assert_eq!(probes(0b101, 3, 0), vec![0b101]);
        assert_eq!(probes(0b101, 3, 1), vec![0b101, 0b100, 0b111, 0b001]);
        assert_eq!(probes(0, 4, 2).len(), 1 + 4 + 6);
    }

    #[test]
    fn planes_are_the_same_everywhere_and_split_space() {
        let a = Planes::new(4, 8, 16, "net");
        let b = Planes::new(4, 8, 16, "net");
        assert_eq!(a.normals, b.normals);
        let mean = a.normals.iter().sum::<f32>() / a.normals.len() as f32;
        assert!(mean.abs() < 0.2, "{mean}");
        let v: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let neg: Vec<f32> = v.iter().map(|x| -x).collect();
        // Opposite vectors land in complementary buckets.
        for (x, y) in a.codes(&v).into_iter().zip(a.codes(&neg)) {
            assert_eq!(x ^ y, 0xff);
        }
    }
}
