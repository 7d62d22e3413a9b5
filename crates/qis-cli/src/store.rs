//! Opening the store and the embedder the commands share.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use qis::embed::{Embedder, HashedEmbedder};
use qis::router::Router;
use qis::router::embedded::EmbeddedRouter;
use qis::router::url::RouterSpec;

/// Opens the embedded store in `dir`, saying which directory failed.
pub async fn open(dir: &Path) -> Result<EmbeddedRouter> {
    EmbeddedRouter::open(dir)
        .await
        .with_context(|| format!("cannot open the store in {}", dir.display()))
}

/// An open router, and where it is.
pub struct Opened {
    /// The router.
    pub router: Arc<dyn Router>,
    /// The embedded store itself, when that is the router (export reads it directly).
    pub embedded: Option<Arc<EmbeddedRouter>>,
    /// The embedded store's directory (where the embedder is recorded).
    pub dir: Option<PathBuf>,
    /// What to call it in messages: a directory or a URL.
    pub label: String,
}

impl Opened {
    /// Checks that `embedder` made the vectors already in the store (embedded stores only: a
    /// remote engine has no place to record it).
    pub fn bind_embedder(&self, embedder: &dyn Embedder) -> Result<()> {
        match &self.dir {
            Some(dir) => bind_embedder(dir, embedder),
            None => Ok(()),
        }
    }
}

/// Opens the router the settings name (see `Global::router_spec`).
pub async fn open_router(spec: &RouterSpec) -> Result<Opened> {
    match spec {
        RouterSpec::Embedded { dir } => {
            let store = Arc::new(open(dir).await?);
            Ok(Opened {
                router: store.clone(),
                embedded: Some(store),
                dir: Some(dir.clone()),
                label: dir.display().to_string(),
            })
        }
        other => {
            let label = match other {
                RouterSpec::Http(c) => c.url.clone(),
                other => format!("the {} router", other.backend()),
            };
            let router = other
                .open()
                .await
                .with_context(|| format!("cannot open {label}"))?;
            Ok(Opened {
                router,
                embedded: None,
                dir: None,
                label,
            })
        }
    }
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
