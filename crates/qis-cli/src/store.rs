//! Opening the store and the embedder the commands share.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use qis::embed::{Embedder, HashedEmbedder};
use qis::router::embedded::EmbeddedRouter;

/// Opens the embedded store in `dir`, saying which directory failed.
pub async fn open(dir: &Path) -> Result<EmbeddedRouter> {
    EmbeddedRouter::open(dir)
        .await
        .with_context(|| format!("cannot open the store in {}", dir.display()))
}

/// The file in the data directory that names the embedder its vectors came from.
const EMBEDDER_FILE: &str = "EMBEDDER";

/// Embedder choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EmbedderKind {
    /// Model-free hashed n-grams (always available).
    Hashed,
    /// all-MiniLM-L6-v2 in process (needs the `minilm` build feature and the model files).
    Minilm,
}

/// The best embedder this build has: MiniLM when compiled in and its files are present.
pub fn best_available(model_dir: Option<&Path>) -> EmbedderKind {
    #[cfg(feature = "minilm")]
    {
        let dir = model_dir
            .map(Path::to_owned)
            .unwrap_or_else(qis::embed::default_model_dir);
        if dir.join("model.safetensors").exists() {
            return EmbedderKind::Minilm;
        }
    }
    let _ = model_dir;
    EmbedderKind::Hashed
}

/// Builds the embedder `kind`.
pub fn embedder(kind: EmbedderKind, model_dir: Option<&Path>) -> Result<Arc<dyn Embedder>> {
    match kind {
        EmbedderKind::Hashed => Ok(Arc::new(HashedEmbedder::default())),
        #[cfg(feature = "minilm")]
        EmbedderKind::Minilm => {
            let dir = model_dir
                .map(Path::to_owned)
                .unwrap_or_else(qis::embed::default_model_dir);
            Ok(Arc::new(
                qis::embed::MiniLmEmbedder::from_dir(&dir).with_context(|| {
                    format!(
                        "cannot load MiniLM from {} (scripts/fetch-model fetches it)",
                        dir.display()
                    )
                })?,
            ))
        }
        #[cfg(not(feature = "minilm"))]
        EmbedderKind::Minilm => {
            let _ = model_dir;
            bail!(
                "this qis was built without MiniLM: rebuild with `--features minilm`, or use --embedder hashed"
            )
        }
    }
}

/// Checks that `embedder` made the vectors already in `dir` (recording it on first use), so that
/// vectors of two models, which are not comparable, never mix in one store.
pub fn bind_embedder(dir: &Path, embedder: &dyn Embedder) -> Result<()> {
    let path = dir.join(EMBEDDER_FILE);
    match std::fs::read_to_string(&path) {
        Ok(existing) if existing.trim() == embedder.name() => Ok(()),
        Ok(existing) => bail!(
            "the vectors in {} were made by the {} embedder, not {}: use --embedder {}",
            dir.display(),
            existing.trim(),
            embedder.name(),
            if existing.trim() == HashedEmbedder::default().name() {
                "hashed"
            } else {
                "minilm"
            }
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::write(&path, embedder.name())
                .with_context(|| format!("cannot write {}", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}
