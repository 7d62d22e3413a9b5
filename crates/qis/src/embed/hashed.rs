//! The model-free embedder: feature hashing of words, word pairs and character n-grams.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::{Embedder, check_text, normalize};
use crate::error::{Error, Result};

/// Words that carry little meaning on their own; they still count inside word pairs.
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is",
    "it", "its", "of", "on", "or", "that", "the", "this", "to", "was", "were", "when", "with",
    "into", "than", "then", "there", "these", "those", "so", "but", "not", "no", "we", "our",
    "you", "your", "they", "their", "after", "before", "over", "under", "up", "down", "out", "get",
    "gets", "got",
];

/// Model-free embeddings: every word, adjacent word pair and character 3- to 5-gram of each word is
/// hashed (xxh3, fixed seed) into one of `dimension` buckets with a hashed sign; counts are damped
/// (`1 + ln tf`) and the vector is scaled to unit length.
///
/// Deterministic everywhere: the same text gives the same vector on every machine and version.
#[derive(Clone, Debug)]
pub struct HashedEmbedder {
    dimension: usize,
}

impl Default for HashedEmbedder {
    /// 384 dimensions, the size of all-MiniLM-L6-v2's vectors.
    fn default() -> Self {
        HashedEmbedder { dimension: 384 }
    }
}

impl HashedEmbedder {
    /// An embedder of `dimension` buckets (16 to 4096).
    pub fn new(dimension: usize) -> Result<Self> {
        if !(16..=crate::vector::MAX_DIMENSION).contains(&dimension) {
            return Err(Error::Config(format!(
                "the hashed embedder's dimension must be 16 to {}, got {dimension}",
                crate::vector::MAX_DIMENSION
            )));
        }
        Ok(HashedEmbedder { dimension })
    }

    fn add(&self, v: &mut [f32], feature: &str, kind: u64, weight: f32) {
        let h = xxh3_64_with_seed(feature.as_bytes(), kind);
        let bucket = (h % self.dimension as u64) as usize;
        let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
        v[bucket] += sign * weight;
    }

    fn embed_one(&self, text: &str) -> Result<Vec<f32>> {
        check_text(text)?;
        let lower = text.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let mut counts: std::collections::HashMap<(u64, String), f32> =
            std::collections::HashMap::new();
        let mut bump = |kind: u64, feature: String, w: f32| {
            *counts.entry((kind, feature)).or_default() += w;
        };
        for (i, word) in words.iter().enumerate() {
            let stop = STOPWORDS.contains(word);
            bump(1, (*word).to_owned(), if stop { 0.2 } else { 1.0 });
            if let Some(next) = words.get(i + 1) {
                bump(2, format!("{word} {next}"), 0.5);
            }
            if stop {
                continue;
            }
            // Character n-grams of the word with boundary marks catch shared stems:
            // "quadratic" / "quadratically", "transformer" / "transformers".
            let marked: Vec<char> = format!("<{word}>").chars().collect();
            for n in 3..=5 {
                for gram in marked.windows(n) {
                    bump(3, gram.iter().collect(), 0.25);
                }
            }
        }
        let mut v = vec![0.0f32; self.dimension];
        if counts.is_empty() {
            // Only punctuation or symbols: hash the raw text, so the vector is not zero.
            self.add(&mut v, text.trim(), 0, 1.0);
        }
        for ((kind, feature), tf) in counts {
            // Sublinear term frequency: a word said five times is not five times the meaning.
            self.add(
                &mut v,
                &feature,
                kind,
                (1.0 + tf.ln().max(0.0)) * tf.min(1.0),
            );
        }
        normalize(&mut v);
        Ok(v)
    }
}

impl Embedder for HashedEmbedder {
    fn name(&self) -> &str {
        "hashed-ngrams-v1"
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        texts.iter().map(|t| self.embed_one(t)).collect()
    }
}
