//! Embedders: problem text → unit vector, for semantic routing.
//!
//! - [`HashedEmbedder`] — model-free: hashed word, word-pair and character n-gram features.
//!   Deterministic across machines and versions, nothing to download. Paraphrases land nearer each
//!   other than unrelated problems, but it knows no synonyms: "car" and "automobile" are strangers.
//! - `MiniLmEmbedder` (feature `minilm`) — all-MiniLM-L6-v2 run in-process (our BERT encoder on gemm, CPU) from a
//!   local model directory (`default_model_dir()`; `scripts/fetch-model` fetches it): 384
//!   dimensions, mean-pooled, normalised, as sentence-transformers computes them.
//!
//!
//! [`EmbedderSpec`] names one (`hashed`, `minilm`, `minilm:DIR`) in configuration and opens it.
//!
//! ```
//! use qis::embed::{Embedder, HashedEmbedder};
//! let e = HashedEmbedder::default();
//! let v = e.embed("attention cost grows quadratically with sequence length")?;
//! assert_eq!(v.len(), e.dimension());
//! let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
//! assert!((norm - 1.0).abs() < 1e-5);
//! # Ok::<(), qis::Error>(())
//! ```

use std::fmt;

use crate::error::{Error, Result};

#[cfg(feature = "minilm")]
mod bert;
mod hashed;
#[cfg(feature = "minilm")]
mod minilm;
mod spec;

pub use hashed::HashedEmbedder;
#[cfg(feature = "minilm")]
pub use minilm::{MiniLmEmbedder, default_model_dir};
pub use spec::EmbedderSpec;

/// Turns texts into unit-length vectors of a fixed dimension.
pub trait Embedder: Send + Sync + fmt::Debug {
    /// A short name that identifies the model (and so which vectors are comparable).
    fn name(&self) -> &str;

    /// The vectors' dimension.
    fn dimension(&self) -> usize;

    /// Embeds a batch of texts. Errors: [`Error::Invalid`] for a blank text.
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;

    /// Embeds one text.
    fn embed(&self, text: &str) -> Result<Vec<f32>> {
        let mut v = self.embed_batch(&[text])?;
        v.pop()
            .ok_or_else(|| Error::invalid("text", "the embedder returned no vector"))
    }
}

/// The unit vector of a query text, embedded off the async workers when a tokio runtime runs it
/// (a model takes milliseconds of CPU per text): the one way every surface turns a text into a
/// query vector. Errors: the embedder's ([`Error::Invalid`] for a blank text), and
/// [`Error::Invalid`] on `text` when the vector cannot be used.
pub async fn embed_query(
    embedder: std::sync::Arc<dyn Embedder>,
    text: &str,
) -> Result<crate::vector::Vector> {
    #[cfg(feature = "tokio")]
    if tokio::runtime::Handle::try_current().is_ok() {
        let text = text.to_owned();
        let vector = tokio::task::spawn_blocking(move || embedder.embed(&text))
            .await
            .map_err(|e| Error::backend("embedder", false, e))??;
        return crate::vector::unit_vector("text", &vector);
    }
    crate::vector::unit_vector("text", &embedder.embed(text)?)
}

/// Refuses blank texts, which have no meaning to embed.
pub(crate) fn check_text(text: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::invalid("text", "must not be blank"));
    }
    Ok(())
}

/// Scales `v` to unit length in place (a zero vector stays zero).
pub(crate) fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}
