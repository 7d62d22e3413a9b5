//! [`EmbedderSpec`]: which embedder, as a string (`hashed`, `minilm`, `minilm:DIR`) that parses,
//! opens and prints back, in flags, `QIS_*` variables and `qis.toml` alike.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use super::{Embedder, HashedEmbedder};
use crate::error::{Error, Result};

/// An embedder, by name and settings.
///
/// ```
/// use qis::embed::EmbedderSpec;
/// let spec: EmbedderSpec = "minilm:models/all-MiniLM-L6-v2".parse()?;
/// assert_eq!(spec.to_string(), "minilm:models/all-MiniLM-L6-v2");
/// assert_eq!("hashed".parse::<EmbedderSpec>()?, EmbedderSpec::Hashed);
/// assert!("bert".parse::<EmbedderSpec>().is_err());
/// # Ok::<(), qis::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmbedderSpec {
    /// The model-free [`HashedEmbedder`].
    Hashed,
    /// all-MiniLM-L6-v2 (feature `minilm`) from a model directory (`None`: the default one).
    MiniLm {
        /// The model directory.
        model_dir: Option<PathBuf>,
    },
}

impl EmbedderSpec {
    /// The best embedder this build has: MiniLM when it is compiled in and its files are in
    /// `model_dir` (or the default directory), else the hashed one.
    pub fn best_available(model_dir: Option<&Path>) -> EmbedderSpec {
        #[cfg(feature = "minilm")]
        {
            let dir = model_dir
                .map(Path::to_owned)
                .unwrap_or_else(super::default_model_dir);
            if dir.join("model.safetensors").exists() {
                return EmbedderSpec::MiniLm {
                    model_dir: model_dir.map(Path::to_owned),
                };
            }
        }
        let _ = model_dir;
        EmbedderSpec::Hashed
    }

    /// The same spec with `model_dir` for MiniLM when it names none.
    #[must_use]
    pub fn with_model_dir(self, dir: Option<&Path>) -> EmbedderSpec {
        match self {
            EmbedderSpec::MiniLm { model_dir: None } => EmbedderSpec::MiniLm {
                model_dir: dir.map(Path::to_owned),
            },
            other => other,
        }
    }

    /// Loads the embedder. Errors: [`Error::Config`] when MiniLM is not part of this build, or
    /// its model files cannot be read.
    pub fn open(&self) -> Result<Arc<dyn Embedder>> {
        match self {
            EmbedderSpec::Hashed => Ok(Arc::new(HashedEmbedder::default())),
            #[cfg(feature = "minilm")]
            EmbedderSpec::MiniLm { model_dir } => {
                let dir = model_dir.clone().unwrap_or_else(super::default_model_dir);
                let model = super::MiniLmEmbedder::from_dir(&dir).map_err(|e| {
                    Error::Config(format!(
                        "cannot load MiniLM from {} (scripts/fetch-model fetches it): {e}",
                        dir.display()
                    ))
                })?;
                Ok(Arc::new(model))
            }
            #[cfg(not(feature = "minilm"))]
            EmbedderSpec::MiniLm { .. } => Err(Error::Config(
                "this build has no MiniLM: rebuild with the cargo feature `minilm`, or use the hashed embedder".into(),
            )),
        }
    }
}

impl FromStr for EmbedderSpec {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let text = text.trim();
        let (name, dir) = match text.split_once(':') {
            Some((name, dir)) => (name, Some(dir)),
            None => (text, None),
        };
        match (name.to_ascii_lowercase().as_str(), dir) {
            ("hashed", None) => Ok(EmbedderSpec::Hashed),
            ("minilm", None) => Ok(EmbedderSpec::MiniLm { model_dir: None }),
            ("minilm", Some(dir)) if !dir.is_empty() => Ok(EmbedderSpec::MiniLm {
                model_dir: Some(dir.into()),
            }),
            _ => Err(Error::invalid(
                "embedder",
                format!("must be hashed, minilm or minilm:MODEL_DIR, got {text:?}"),
            )),
        }
    }
}

impl fmt::Display for EmbedderSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmbedderSpec::Hashed => f.write_str("hashed"),
            EmbedderSpec::MiniLm { model_dir: None } => f.write_str("minilm"),
            EmbedderSpec::MiniLm {
                model_dir: Some(dir),
            } => write!(f, "minilm:{}", dir.display()),
        }
    }
}

impl<'de> serde::Deserialize<'de> for EmbedderSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for EmbedderSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_prints_back_and_opens() {
        for text in ["hashed", "minilm", "minilm:/models/m"] {
            let spec: EmbedderSpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), text);
        }
        let e = EmbedderSpec::Hashed.open().unwrap();
        assert_eq!(e.name(), HashedEmbedder::default().name());
        let err = "minilm:".parse::<EmbedderSpec>().unwrap_err().to_string();
        assert!(
            err.contains("embedder") && err.contains("minilm:MODEL_DIR"),
            "{err}"
        );
        #[derive(serde::Deserialize)]
        struct File {
            embedder: EmbedderSpec,
        }
        let f: File = toml::from_str("embedder = \"minilm\"").unwrap();
        assert_eq!(f.embedder, EmbedderSpec::MiniLm { model_dir: None });
    }
}
