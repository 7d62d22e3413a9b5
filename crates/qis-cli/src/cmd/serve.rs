//! `qis serve`: run a qis node over HTTP (see `qis-server`) on the embedded store or any router.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use qis::router::Router;
use qis::router::url::{RouterSpec, parse_url};
use qis_server::auth::{Auth, Tokens};
use qis_server::config::{Limits, NetworkLimits};
use qis_server::{AppState, DEFAULT_NETWORK, NetworkSpec, ServerConfig};

use super::selector::parse_span;
use crate::config::{Global, NetworkSettings as ServeNetwork, ServeConfig};
use crate::store::{self, EmbedderKind};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0: the system picks one; the URL is printed)
    /// [default: `listen` in qis.toml, or 127.0.0.1:7878].
    #[arg(long, env = "QIS_LISTEN", value_name = "ADDR")]
    listen: Option<String>,
    /// The router behind the node: `embedded` (the data directory), `embedded:DIR` or
    /// `file:DIR`, `memory:` (nothing kept), another node's `http://host:port`, or an engine
    /// (`nats://…`, `chroma://…`, `qdrant://…`, in builds with those features) [default: the
    /// global --router, else the embedded store].
    #[arg(long, value_name = "URL")]
    router: Option<String>,
    /// With `--router http://…`: the environment variable holding that node's token [default:
    /// QIS_TOKEN, when set].
    #[arg(long, value_name = "VAR")]
    router_token_env: Option<String>,
    /// A tokens file (TOML, one `"token" = "agent"` line per caller of the default network, or
    /// `"token" = { agent = "…", network = "…", role = "operator" }`; `"sha256:<hex>"` keys hold
    /// a token's digest instead of the token) [also: `tokens_file` and `[serve.tokens]` in qis.toml].
    #[arg(long, value_name = "FILE")]
    tokens: Option<PathBuf>,
    /// Also serve this network (repeatable), at /v1/networks/NAME/…: a directory of its own
    /// under the data directory (`networks/NAME`), or the engine network `<network>-NAME`.
    /// Networks named by tokens or by `[serve.networks.NAME]` in qis.toml are served too.
    #[arg(long = "network", value_name = "NAME")]
    networks: Vec<String>,
    /// Requests per second of all of one network's tokens together (0: no limit; per network:
    /// `rate` in `[serve.networks.NAME]`).
    #[arg(long, default_value_t = 0, value_name = "N")]
    network_rate: u32,
    /// Requests a network may make at once before its rate applies [default: twice the rate].
    #[arg(long, value_name = "N")]
    network_burst: Option<u32>,
    /// Serve WITHOUT authentication: anyone who can reach the node deposits as any agent.
    /// For local development only.
    #[arg(long)]
    insecure_open: bool,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 8 * 1024 * 1024, value_name = "BYTES")]
    max_body_bytes: usize,
    /// Most packets per deposit.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    max_batch: usize,
    /// Longest a request may take, such as 500ms, 30s, 2m.
    #[arg(long, default_value = "10s", value_parser = parse_span, value_name = "SPAN", allow_hyphen_values = true)]
    timeout: u64,
    /// Requests per second per token (0: no limit).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    rate: u32,
    /// Requests a token may make at once before the rate applies [default: twice the rate].
    #[arg(long, value_name = "N")]
    burst: Option<u32>,
    /// Most connections open at once (past it, new ones wait to be accepted).
    #[arg(long, default_value_t = 4096, value_name = "N")]
    max_connections: usize,
    /// Most connections open at once from one peer address (past it, 429 and closed).
    #[arg(long, default_value_t = 256, value_name = "N")]
    max_connections_per_peer: usize,
    /// Most request-body bytes held at once across all requests (past it, 503 after a second).
    #[arg(long, default_value_t = 256 * 1024 * 1024, value_name = "BYTES")]
    max_body_memory: usize,
    /// Longest a connection may take to send a request's headers, or sit idle between requests.
    #[arg(long, default_value = "30s", value_parser = parse_span, value_name = "SPAN", allow_hyphen_values = true)]
    header_timeout: u64,
    /// The embedder of `text` queries [default: the best this build has].
    #[arg(long, value_enum)]
    embedder: Option<EmbedderKind>,
    /// Agents' public keys (TOML, `agent = "<hex>"` per line, as `qis keygen` prints): signed
    /// packets are verified on deposit, and `require_signed` synthesis uses them.
    #[arg(long, value_name = "FILE")]
    agent_keys: Option<PathBuf>,
    /// Refuse unsigned packets (needs --agent-keys).
    #[arg(long, requires = "agent_keys")]
    require_signatures: bool,
}

/// The tokens from `--tokens`, `tokens_file` and `[serve.tokens]`, or an open node.
fn auth(args: &Args, serve: &ServeConfig) -> Result<Auth> {
    let path = args.tokens.as_ref().or(serve.tokens_file.as_ref());
    let mut tokens = match path {
        Some(path) => Tokens::from_file(path)?,
        None => Tokens::new(),
    };
    tokens
        .extend_from_table(serve.tokens.clone())
        .context("qis.toml [serve.tokens]")?;
    match (args.insecure_open, tokens.is_empty()) {
        (true, true) => Ok(Auth::Open),
        (true, false) => bail!("--insecure-open with tokens: choose one"),
        (false, false) => Ok(Auth::Tokens(tokens)),
        (false, true) => bail!(
            "no tokens: give --tokens FILE (or `tokens_file` / `[serve.tokens]` in qis.toml), or --insecure-open for local development"
        ),
    }
}

fn warn_open(url: &str) {
    let bar = "!".repeat(78);
    eprintln!(
        "{bar}\n!! WARNING: --insecure-open: this node has NO AUTHENTICATION.\n!! Anyone who can reach {url} can deposit packets AS ANY AGENT and read\n!! everything. Use it for local development only; give --tokens FILE otherwise.\n{bar}"
    );
}

pub async fn run(global: &Global, args: Args) -> Result<()> {
    let file = global.file()?;
    let serve = ServeConfig::of(&file)?;
    let auth = auth(&args, &serve)?;
    // `embedded`, `embedded:DIR` and `memory` are this flag's older spellings of `file:` and
    // `memory:`; anything else is a router URL.
    let spec = match args.router.as_ref().or(serve.router.as_ref()) {
        None => global.router_spec(&file)?,
        Some(text) => match text.as_str() {
            "embedded" => RouterSpec::Embedded {
                dir: global.data_dir(&file),
            },
            "memory" => RouterSpec::Memory,
            other => match other.strip_prefix("embedded:") {
                Some(dir) => RouterSpec::Embedded { dir: dir.into() },
                None => parse_url(other).with_context(|| format!("--router {other:?}"))?,
            },
        },
    };
    let spec = super::remote::with_token_env(
        spec,
        "--router-token-env",
        args.router_token_env.as_deref(),
    )?;
    let opened = store::open_router(&spec).await?;
    let store_dir = opened.dir;
    // The façade of the settings, with this command's flags on top.
    let mut settings = file;
    if let Some(kind) = args.embedder {
        settings.embedder = Some(kind.into());
    }
    if let Some(path) = &args.agent_keys {
        settings.agent_keys = Some(path.clone());
    }
    let qis = settings.open_with(opened.router)?;
    let router = qis.router().clone();
    let embedder = qis.embedder()?;
    let limits = Limits::default()
        .max_body_bytes(args.max_body_bytes)
        .max_batch(args.max_batch.max(1))
        .request_timeout(Duration::from_millis(args.timeout.max(1)))
        .rate(args.rate, args.burst.unwrap_or(args.rate.saturating_mul(2)))
        .max_connections(args.max_connections)
        .max_connections_per_peer(args.max_connections_per_peer)
        .max_body_memory(args.max_body_memory)
        .header_timeout(Duration::from_millis(args.header_timeout.max(1)));
    let open = matches!(auth, Auth::Open);
    let mut config = ServerConfig::new(auth)
        .limits(limits)
        .embedder(embedder.clone())
        .fingerprint(qis.fingerprint().clone());
    if let Some(ring) = qis.key_ring() {
        let ring = (**ring).clone();
        eprintln!(
            "verifying signed packets against {} agents' keys{}",
            ring.len(),
            if args.require_signatures {
                "; unsigned packets are refused"
            } else {
                ""
            }
        );
        config = config.signatures(ring, args.require_signatures);
    }

    // Every network is opened before the node listens: one that cannot open stops it here.
    let mut served = Vec::new();
    let mut networks = vec![
        NetworkSpec::new(DEFAULT_NETWORK, router.clone())
            .limits(network_limits(&args, &ServeNetwork::default())),
    ];
    for (name, settings) in served_networks(&args, &serve, &config.auth) {
        let namespaced = spec
            .namespaced(&name)
            .with_context(|| format!("the network {name:?}"))?;
        let opened = store::open_router(&namespaced)
            .await
            .with_context(|| format!("the network {name:?}"))?;
        opened.router.bind_embedder(embedder.name())?;
        let place = match &opened.dir {
            Some(d) => d.display().to_string(),
            None => namespaced.to_string(),
        };
        served.push((name.clone(), place));
        networks
            .push(NetworkSpec::new(name, opened.router).limits(network_limits(&args, &settings)));
    }
    let listen = args
        .listen
        .clone()
        .or(serve.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:7878".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    if open {
        warn_open(&url);
    }
    let what = match &store_dir {
        Some(d) => format!("{} store in {}", router.capabilities().name, d.display()),
        None => format!("{} router", router.capabilities().name),
    };
    // One line on standard output that scripts (and tests) read: where the node listens.
    println!("qis node listening on {url} ({what}); dashboard at {url}/dashboard");
    std::io::stdout().flush()?;
    for (name, place) in &served {
        eprintln!("also serving the network {name:?} at {url}/v1/networks/{name}/… ({place})");
    }

    let state = AppState::with_networks(networks, config)?;
    qis_server::run(listener, state, shutdown_signal())
        .await
        .context("the server stopped")?;
    eprintln!("qis node stopped");
    Ok(())
}

/// The networks to serve besides the default one: `--network`, `[serve.networks]` and those the
/// tokens name, each once, in order.
fn served_networks(
    args: &Args,
    serve: &ServeConfig,
    auth: &Auth,
) -> BTreeMap<String, ServeNetwork> {
    let mut all: BTreeMap<String, ServeNetwork> = serve.networks.clone();
    let named = args.networks.iter().map(String::as_str);
    let bound = match auth {
        Auth::Tokens(tokens) => tokens.networks().into_iter().collect(),
        Auth::Open => Vec::new(),
    };
    for name in named.chain(bound) {
        all.entry(name.to_owned()).or_default();
    }
    all.remove(DEFAULT_NETWORK);
    all
}

/// A network's limits: its `[serve.networks.NAME]` table over the flags.
fn network_limits(args: &Args, settings: &ServeNetwork) -> NetworkLimits {
    let rate = settings.rate.unwrap_or(args.network_rate);
    let burst = settings.burst.or(args.network_burst).unwrap_or(0);
    let limits = NetworkLimits::default().rate(rate, burst);
    match settings.max_batch {
        Some(n) => limits.max_batch(n),
        None => limits,
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    eprintln!("qis node: shutting down (finishing open requests)");
}
