//! Opening the store and the embedder the commands share.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use qis::embed::EmbedderSpec;
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

/// Embedder choices of the `--embedder` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EmbedderKind {
    /// Model-free hashed n-grams (always available).
    Hashed,
    /// all-MiniLM-L6-v2 in process (needs the `minilm` build feature and the model files).
    Minilm,
}

impl From<EmbedderKind> for EmbedderSpec {
    /// The library's spec of this choice (MiniLM from the settings' `model_dir`, see
    /// `Settings::embedder_spec`).
    fn from(kind: EmbedderKind) -> Self {
        match kind {
            EmbedderKind::Hashed => EmbedderSpec::Hashed,
            EmbedderKind::Minilm => EmbedderSpec::MiniLm { model_dir: None },
        }
    }
}
