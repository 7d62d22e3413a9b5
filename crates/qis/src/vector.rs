//! Vector math shared by the routers and the embedders: unit vectors, cosine similarity and a
//! lane-wise dot product. It depends on nothing but [`Error`](crate::Error), so that the
//! embedders need not reach into the routing layer (which re-exports these, as before).

use std::sync::Arc;

use crate::error::{Error, Result};

/// Longest vector accepted.
pub const MAX_DIMENSION: usize = 4096;

/// A unit-length embedding vector, shared without copying.
pub type Vector = Arc<[f32]>;

/// Checks a vector (non-empty, at most [`MAX_DIMENSION`], finite, not all zero) and scales it to
/// unit length, so that a dot product is the cosine similarity.
pub fn unit_vector(field: &str, values: &[f32]) -> Result<Vector> {
    if values.is_empty() || values.len() > MAX_DIMENSION {
        return Err(Error::invalid(
            field,
            format!(
                "must have 1 to {MAX_DIMENSION} dimensions, got {}",
                values.len()
            ),
        ));
    }
    if let Some(i) = values.iter().position(|x| !x.is_finite()) {
        return Err(Error::invalid(
            field,
            format!("must be finite, element {i} is {}", values[i]),
        ));
    }
    let norm = values
        .iter()
        .map(|&x| (x as f64) * (x as f64))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return Err(Error::invalid(field, "must not be all zeros"));
    }
    // Already unit length (to f32 precision): keep the values bit for bit, so that a vector
    // exported and imported again is unchanged.
    if (norm - 1.0).abs() < 1e-6 {
        return Ok(values.into());
    }
    Ok(values.iter().map(|&x| (x as f64 / norm) as f32).collect())
}

/// Cosine similarity of two unit vectors of the same dimension.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Dot product of two equally long slices in eight independent lanes, which the compiler turns
/// into SIMD (a plain sum is ordered, so it does not): [`cosine`]'s value to within rounding, a
/// few times faster. Used by the embedded store's vector scans, the MiniLM encoder and
/// `qis bench`'s exact answers.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}
