//! Router URLs: one string picks a backend and configures it, everywhere (CLI, server, simulator).
//!
//! | URL | router | feature |
//! |---|---|---|
//! | `memory:` | [`MemoryRouter`](super::memory::MemoryRouter) | always |
//! | `file:PATH`, `file:///abs/path` | the embedded store in directory `PATH` | `embedded` |
//! | `nats://host:4222[,host2:4222…]/NETWORK?replicas=3` | NATS JetStream | `nats` |
//! | `qdrant://host:6334/NETWORK?dimension=384` | Qdrant (gRPC) | `qdrant` |
//! | `chroma://host:8000/NETWORK` | a Chroma server (HTTP API v2) | `chroma` |
//! | `http://host:port?token_env=VAR`, `https://…` | a remote qis node | `http` |
//!
//! `NETWORK` (default `qis`) names the stream or collection: routers of one network share packets,
//! routers of different networks never see each other's. Query parameters configure the engine
//! (see [`NatsConfig`], [`QdrantConfig`], [`ChromaConfig`]); an unknown parameter is an error
//! that lists the known ones, so a typo never goes unnoticed.
//!
//! ```
//! use qis::router::url::{RouterSpec, parse_url};
//! let spec = parse_url("nats://127.0.0.1:4222,127.0.0.1:4223/trials?replicas=3&max_age=30d")?;
//! let RouterSpec::Nats(nats) = spec else { unreachable!() };
//! assert_eq!(nats.servers, ["127.0.0.1:4222", "127.0.0.1:4223"]);
//! assert_eq!((nats.network.as_str(), nats.replicas), ("trials", 3));
//! assert!(parse_url("nats://localhost/trials?replica=3").is_err()); // a typo is an error
//! # Ok::<(), qis::Error>(())
//! ```
//!
//! A backend whose feature was not compiled in is still parsed (so the error can say what to do),
//! and [`open`] then fails with an [`Error::Config`](crate::Error::Config) naming the feature.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub(crate) mod parts;

use super::Router;
pub use super::chroma::ChromaConfig;
use super::chroma::parse_chroma;
pub use super::http::HttpConfig;
use super::http::parse_http;
pub use super::nats::NatsConfig;
use super::nats::parse_nats;
pub use super::qdrant::QdrantConfig;
use super::qdrant::parse_qdrant;
use crate::error::Result;
pub use parts::{DEFAULT_NETWORK, DEFAULT_TIMEOUT, check_network, parse_duration};
use parts::{config, split};

/// A parsed router URL: which backend, and its settings.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RouterSpec {
    /// `memory:`: packets in this process only.
    Memory,
    /// `file:PATH`: the embedded store in a data directory.
    Embedded {
        /// The data directory.
        dir: PathBuf,
    },
    /// `nats://…`: NATS JetStream.
    Nats(NatsConfig),
    /// `qdrant://…`: Qdrant over gRPC.
    Qdrant(QdrantConfig),
    /// `chroma://…`: a Chroma server.
    Chroma(ChromaConfig),
    /// `http(s)://…`: a remote qis node.
    Http(HttpConfig),
}

/// Parses a router URL (see the [module docs](self)). Errors: [`Error::Config`](crate::Error::Config) naming what is
/// wrong (unknown scheme, bad host list, unknown or malformed parameter).
pub fn parse_url(text: &str) -> Result<RouterSpec> {
    let text = text.trim();
    let Some((scheme, rest)) = text.split_once(':') else {
        return Err(config(format!(
            "{text:?} is not a router URL: expected memory:, file:PATH, nats://, qdrant://, chroma:// or http(s)://"
        )));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "memory" => {
            if !(rest.is_empty() || rest == "//") {
                return Err(config(format!(
                    "memory: takes nothing after the colon, got {rest:?}"
                )));
            }
            Ok(RouterSpec::Memory)
        }
        "file" => parse_file(rest).map(|dir| RouterSpec::Embedded { dir }),
        "http" | "https" => parse_http(text, split(text, scheme, rest)?).map(RouterSpec::Http),
        "nats" => parse_nats(split(text, scheme, rest)?).map(RouterSpec::Nats),
        "qdrant" => parse_qdrant(split(text, scheme, rest)?).map(RouterSpec::Qdrant),
        "chroma" => parse_chroma(split(text, scheme, rest)?).map(RouterSpec::Chroma),
        other => Err(config(format!(
            "unknown router scheme {other:?} in {text:?}: expected memory:, file:PATH, nats://, qdrant://, chroma:// or http(s)://"
        ))),
    }
}

/// Opens the router a URL names. Errors: those of [`parse_url`]; [`Error::Config`](crate::Error::Config) when the
/// backend's cargo feature is not compiled in; the backend's own errors when it cannot be reached
/// (retryable [`Error::Backend`](crate::Error::Backend)) or holds incompatible data.
pub async fn open(url: &str) -> Result<Arc<dyn Router>> {
    parse_url(url)?.open().await
}

impl RouterSpec {
    /// The backend's name, as in [`Capabilities::name`](super::Capabilities::name).
    pub fn backend(&self) -> &'static str {
        match self {
            RouterSpec::Memory => "memory",
            RouterSpec::Embedded { .. } => "embedded",
            RouterSpec::Nats(_) => "nats",
            RouterSpec::Qdrant(_) => "qdrant",
            RouterSpec::Chroma(_) => "chroma",
            RouterSpec::Http(_) => "http",
        }
    }

    /// The same backend in a separate namespace named by `suffix` (letters, digits, `_`, `-`):
    /// the network `<network>-<suffix>` on an engine, the directory `<dir>/networks/<suffix>`
    /// for the embedded store (beside the store's own files, never among them), a new memory
    /// router for `memory:`. Routers of different namespaces never
    /// see each other's packets (the simulator gives each run its own). A qis node (`http`) holds
    /// one network, so it has no namespaces: an error.
    pub fn namespaced(&self, suffix: &str) -> Result<RouterSpec> {
        check_network(suffix)?;
        let network = |base: &str| -> Result<String> {
            let name = format!("{base}-{suffix}");
            check_network(&name)?;
            Ok(name)
        };
        Ok(match self {
            RouterSpec::Memory => RouterSpec::Memory,
            RouterSpec::Embedded { dir } => RouterSpec::Embedded {
                dir: dir.join("networks").join(suffix),
            },
            RouterSpec::Nats(c) => RouterSpec::Nats(NatsConfig {
                network: network(&c.network)?,
                ..c.clone()
            }),
            RouterSpec::Qdrant(c) => RouterSpec::Qdrant(QdrantConfig {
                network: network(&c.network)?,
                ..c.clone()
            }),
            RouterSpec::Chroma(c) => RouterSpec::Chroma(ChromaConfig {
                network: network(&c.network)?,
                ..c.clone()
            }),
            RouterSpec::Http(c) => {
                return Err(config(format!(
                    "the networks of the qis node at {} are its operator's to declare: name one with `?network=NAME` in the URL",
                    c.url
                )));
            }
        })
    }

    /// Opens the router (see [`open`]).
    pub async fn open(&self) -> Result<Arc<dyn Router>> {
        match self {
            RouterSpec::Memory => Ok(Arc::new(super::memory::MemoryRouter::new())),
            #[cfg(feature = "embedded")]
            RouterSpec::Embedded { dir } => {
                Ok(Arc::new(super::embedded::EmbeddedRouter::open(dir).await?))
            }
            #[cfg(feature = "nats")]
            RouterSpec::Nats(c) => Ok(Arc::new(super::nats::NatsRouter::connect(c.clone()).await?)),
            #[cfg(feature = "qdrant")]
            RouterSpec::Qdrant(c) => Ok(Arc::new(
                super::qdrant::QdrantRouter::connect(c.clone()).await?,
            )),
            #[cfg(feature = "chroma")]
            RouterSpec::Chroma(c) => Ok(Arc::new(
                super::chroma::ChromaRouter::connect(c.clone()).await?,
            )),
            #[cfg(feature = "http")]
            RouterSpec::Http(c) => Ok(Arc::new(c.connect().await?)),
            #[allow(unreachable_patterns)]
            other => Err(config(format!(
                "the {0} router is not part of this build: rebuild with the cargo feature `{0}` of qis",
                other.feature(),
            ))),
        }
    }

    fn feature(&self) -> &'static str {
        match self {
            RouterSpec::Embedded { .. } => "embedded",
            other => other.backend(),
        }
    }
}

/// Prints the URL back, with every setting that differs from its default, so that
/// `parse_url(&spec.to_string())` gives `spec` again. A password is never printed (`***`): a
/// printed URL is for logs and messages.
impl std::fmt::Display for RouterSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut params: Vec<String> = Vec::new();
        let secs = |d: &Duration| {
            if d.subsec_millis() == 0 {
                format!("{}s", d.as_secs())
            } else {
                format!("{}ms", d.as_millis())
            }
        };
        match self {
            RouterSpec::Memory => return f.write_str("memory:"),
            RouterSpec::Embedded { dir } => return write!(f, "file:{}", dir.display()),
            RouterSpec::Nats(c) => {
                let d = NatsConfig::new(Vec::new(), "");
                f.write_str("nats://")?;
                if let Some((user, _)) = &c.credentials {
                    write!(f, "{user}:***@")?;
                }
                write!(f, "{}/{}", c.servers.join(","), c.network)?;
                if c.replicas != d.replicas {
                    params.push(format!("replicas={}", c.replicas));
                }
                if let Some(age) = &c.max_age {
                    params.push(format!("max_age={}", secs(age)));
                }
                if c.max_per_subject != d.max_per_subject {
                    params.push(format!("max_per_subject={}", c.max_per_subject));
                }
                if c.memory_storage {
                    params.push("storage=memory".into());
                }
                for (key, v, dv) in [
                    ("lsh_tables", c.lsh_tables, d.lsh_tables),
                    ("lsh_bits", c.lsh_bits, d.lsh_bits),
                    ("lsh_probe", c.lsh_probe, d.lsh_probe),
                ] {
                    if v != dv {
                        params.push(format!("{key}={v}"));
                    }
                }
                if let Some(dim) = c.dimension {
                    params.push(format!("dimension={dim}"));
                }
                if c.timeout != d.timeout {
                    params.push(format!("timeout={}", secs(&c.timeout)));
                }
            }
            RouterSpec::Qdrant(c) => {
                let d = QdrantConfig::new("", "");
                let (tls, host) = match c.endpoint.split_once("://") {
                    Some((scheme, host)) => (scheme == "https", host),
                    None => (false, c.endpoint.as_str()),
                };
                write!(f, "qdrant://{host}/{}", c.network)?;
                if tls {
                    params.push("tls=true".into());
                }
                for (key, v, dv) in [
                    ("dimension", c.dimension as u64, d.dimension as u64),
                    (
                        "replication",
                        c.replication_factor.into(),
                        d.replication_factor.into(),
                    ),
                    (
                        "write_consistency",
                        c.write_consistency.into(),
                        d.write_consistency.into(),
                    ),
                    ("shards", c.shards.into(), d.shards.into()),
                ] {
                    if v != dv {
                        params.push(format!("{key}={v}"));
                    }
                }
                if let Some(var) = &c.api_key_env {
                    params.push(format!("api_key_env={var}"));
                }
                if c.timeout != d.timeout {
                    params.push(format!("timeout={}", secs(&c.timeout)));
                }
            }
            RouterSpec::Chroma(c) => {
                let d = ChromaConfig::new("", "");
                let (tls, host) = match c.base_url.split_once("://") {
                    Some((scheme, host)) => (scheme == "https", host),
                    None => (false, c.base_url.as_str()),
                };
                write!(f, "chroma://{host}/{}", c.network)?;
                if tls {
                    params.push("tls=true".into());
                }
                if c.tenant != d.tenant {
                    params.push(format!("tenant={}", c.tenant));
                }
                if c.database != d.database {
                    params.push(format!("database={}", c.database));
                }
                if c.timeout != d.timeout {
                    params.push(format!("timeout={}", secs(&c.timeout)));
                }
            }
            RouterSpec::Http(c) => {
                let d = HttpConfig::new("");
                f.write_str(&c.url)?;
                if let Some(network) = &c.network {
                    params.push(format!("network={network}"));
                }
                if let Some(var) = &c.token_env {
                    params.push(format!("token_env={var}"));
                }
                if c.timeout != d.timeout {
                    params.push(format!("timeout={}", secs(&c.timeout)));
                }
                if c.retries != d.retries {
                    params.push(format!("retries={}", c.retries));
                }
            }
        }
        if !params.is_empty() {
            write!(f, "?{}", params.join("&"))?;
        }
        Ok(())
    }
}

fn parse_file(rest: &str) -> Result<PathBuf> {
    let path = match rest.strip_prefix("//") {
        // file:///abs/path or file://localhost/abs/path
        Some(after) => {
            let slash = after.find('/').unwrap_or(after.len());
            let host = &after[..slash];
            if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
                return Err(config(format!(
                    "file:// URLs name a local directory; got host {host:?}"
                )));
            }
            &after[slash..]
        }
        None => rest,
    };
    if path.is_empty() {
        return Err(config("file: needs a directory, as in file:./qis-data"));
    }
    Ok(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_separate_networks_and_directories() {
        let nats = parse_url("nats://127.0.0.1:4222/trials?replicas=3").unwrap();
        let RouterSpec::Nats(c) = nats.namespaced("run-7").unwrap() else {
            panic!("still nats")
        };
        assert_eq!((c.network.as_str(), c.replicas), ("trials-run-7", 3));
        assert_eq!(
            parse_url("file:/data").unwrap().namespaced("r1").unwrap(),
            RouterSpec::Embedded {
                dir: "/data/networks/r1".into()
            }
        );
        assert_eq!(
            parse_url("memory:").unwrap().namespaced("x").unwrap(),
            RouterSpec::Memory
        );
        for (url, suffix) in [
            ("http://127.0.0.1:7878", "x"),
            ("chroma://h:8000/n", "a/b"),
            ("qdrant://h:6334/n", &"y".repeat(60)),
        ] {
            assert!(
                parse_url(url).unwrap().namespaced(suffix).is_err(),
                "{url} {suffix}"
            );
        }
    }

    #[test]
    fn every_scheme_parses() {
        assert_eq!(parse_url("memory:").unwrap(), RouterSpec::Memory);
        assert_eq!(
            parse_url("file:./qis-data").unwrap(),
            RouterSpec::Embedded {
                dir: "./qis-data".into()
            }
        );
        assert_eq!(
            parse_url("file:///var/lib/qis").unwrap(),
            RouterSpec::Embedded {
                dir: "/var/lib/qis".into()
            }
        );
        let RouterSpec::Nats(n) = parse_url("nats://u:p@a,b:4223").unwrap() else {
            panic!()
        };
        assert_eq!(n.servers, ["a:4222", "b:4223"]);
        assert_eq!(n.credentials, Some(("u".into(), "p".into())));
        assert_eq!(n.network, DEFAULT_NETWORK);
        let RouterSpec::Qdrant(q) =
            parse_url("qdrant://db/net?dimension=16&replication=2&write_consistency=2&tls=true")
                .unwrap()
        else {
            panic!()
        };
        assert_eq!(q.endpoint, "https://db:6334");
        assert_eq!(
            (q.dimension, q.replication_factor, q.write_consistency),
            (16, 2, 2)
        );
        let RouterSpec::Chroma(c) = parse_url("chroma://127.0.0.1:8123/n1?timeout=500ms").unwrap()
        else {
            panic!()
        };
        assert_eq!(c.base_url, "http://127.0.0.1:8123");
        assert_eq!(c.timeout, Duration::from_millis(500));
        assert_eq!(
            parse_url("https://node.example:8443/").unwrap(),
            RouterSpec::Http(HttpConfig::new("https://node.example:8443"))
        );
        let RouterSpec::Http(h) =
            parse_url("http://127.0.0.1:7878?token_env=SITE_TOKEN&retries=0&timeout=2s").unwrap()
        else {
            panic!()
        };
        assert_eq!(h.url, "http://127.0.0.1:7878");
        assert_eq!(h.token_env.as_deref(), Some("SITE_TOKEN"));
        assert_eq!((h.retries, h.timeout), (0, Duration::from_secs(2)));
    }

    #[test]
    fn every_spec_prints_back_as_a_url_that_parses_to_it() {
        for url in [
            "memory:",
            "file:./qis-data",
            "nats://a:4222,b:4223/trials?replicas=3&max_age=30s&storage=memory&lsh_bits=12&dimension=8&timeout=500ms",
            "nats://127.0.0.1:4222/qis",
            "qdrant://db:6334/net?tls=true&dimension=16&replication=2&api_key_env=K",
            "chroma://127.0.0.1:8123/n1?tenant=t&timeout=2s",
            "http://127.0.0.1:7878?token_env=SITE&retries=0",
        ] {
            let spec = parse_url(url).unwrap();
            assert_eq!(spec.to_string(), url);
            assert_eq!(parse_url(&spec.to_string()).unwrap(), spec, "{url}");
        }
        let secret = parse_url("nats://u:hunter2@h/n").unwrap().to_string();
        assert!(!secret.contains("hunter2"), "{secret}");
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (url, says) in [
            ("redis://x", "unknown router scheme"),
            ("qis-data", "not a router URL"),
            ("nats://h/net?replicas=9", "replicas"),
            ("nats://h/net?replica=3", "known: replicas"),
            ("nats://h:99999", "bad port"),
            ("nats://h/bad.name", "network name"),
            ("qdrant://a,b", "exactly one host"),
            ("file:", "needs a directory"),
            ("file://remote/x", "local directory"),
            ("memory:x", "takes nothing"),
            ("nats://h?timeout=5", "timeout"),
        ] {
            let err = parse_url(url).unwrap_err().to_string();
            assert!(err.contains(says), "{url}: {err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("30d"),
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("x5s"), None);
    }
}
