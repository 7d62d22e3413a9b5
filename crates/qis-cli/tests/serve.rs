//! `qis serve` as a process, and the commands that talk to it with `--remote`; a kill -9 in the
//! middle of a 10,000-packet import by an independent client loses nothing acknowledged.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use qis::packet::{Address, Outcome, Packet, PacketId};
use qis::router::http::HttpRouter;
use qis::router::{Query, Routed, Router};

const CONTEXT: &str = r#"{"condition": "T2D", "intervention_type": "GLP1"}"#;
const TOKEN_1: &str = "serve-test-token-site-01-abcdef";
const TOKEN_2: &str = "serve-test-token-site-02-abcdef";

fn qis() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_qis"));
    for var in [
        "RUST_BACKTRACE",
        "QIS_DATA",
        "QIS_CONFIG",
        "QIS_AGENT",
        "QIS_REMOTE",
        "QIS_TOKEN",
        "QIS_LISTEN",
    ] {
        c.env_remove(var);
    }
    c
}

/// A running `qis serve`; killed (SIGKILL) when dropped.
struct Served {
    child: Child,
    url: String,
    stderr: Arc<std::sync::Mutex<String>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `qis serve --listen 127.0.0.1:0` with `args` and waits for the URL it prints.
fn serve(data: &Path, args: &[&str]) -> Served {
    let mut child = qis()
        .arg("--data")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn qis serve");
    let stderr = Arc::new(std::sync::Mutex::new(String::new()));
    let mut err = child.stderr.take().unwrap();
    let sink = stderr.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .strip_prefix("qis node listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no URL in {line:?}; stderr: {}", stderr.lock().unwrap()))
        .to_owned();
    Served { child, url, stderr }
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// `qis stats --remote URL --json`, with the token in `token` when given.
fn remote_stats(url: &str, token: Option<&str>) -> serde_json::Value {
    let mut c = qis();
    c.args(["stats", "--remote", url, "--json"]);
    if let Some(t) = token {
        c.args(["--token-env", "QIS_T"]).env("QIS_T", t);
    }
    serde_json::from_str(&ok(c.output().unwrap())).unwrap()
}

fn deposit(url: &str, agent: &str, protocol: &str, token_env: Option<(&str, &str)>) -> Output {
    deposit_with(url, agent, protocol, token_env, &[])
}

fn deposit_with(
    url: &str,
    agent: &str,
    protocol: &str,
    token_env: Option<(&str, &str)>,
    extra: &[&str],
) -> Output {
    let mut c = qis();
    c.args([
        "deposit",
        "--remote",
        url,
        "--agent",
        agent,
        "--domain",
        "clinical_trial",
        "--context",
        CONTEXT,
        "--outcome",
        "resolved",
        "--confidence",
        "0.8",
        "--result",
        protocol,
    ]);
    if let Some((var, token)) = token_env {
        c.args(["--token-env", var]).env(var, token);
    }
    c.args(extra).output().unwrap()
}

#[test]
fn remote_commands_against_an_open_node() {
    let dir = tempfile::tempdir().unwrap();
    let node = serve(dir.path(), &["--insecure-open", "--router", "memory:"]);
    ok(deposit(&node.url, "site_01", "protocol=weekly", None));
    ok(deposit(&node.url, "site_02", "protocol=weekly", None));
    ok(deposit(&node.url, "site_03", "protocol=daily", None));

    let q = ok(qis()
        .args([
            "query",
            "--remote",
            &node.url,
            "--domain",
            "clinical_trial",
            "--context",
            CONTEXT,
            "--json",
        ])
        .output()
        .unwrap());
    assert_eq!(q.lines().count(), 3, "{q}");
    let q = ok(qis()
        .args([
            "query",
            "--remote",
            &node.url,
            "--domain",
            "clinical_trial",
            "--context",
            CONTEXT,
            "--exclude-agent",
            "site_01",
            "--json",
        ])
        .output()
        .unwrap());
    assert_eq!(q.lines().count(), 2, "filters travel: {q}");
    let s = ok(qis()
        .args([
            "synth",
            "--remote",
            &node.url,
            "--domain",
            "clinical_trial",
            "--context",
            CONTEXT,
            "--method",
            "frequency",
            "--json",
        ])
        .output()
        .unwrap());
    let insight: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(insight["sample_size"], 3);
    assert_eq!(insight["best"]["protocol"], "weekly");
    let stats = remote_stats(&node.url, None);
    assert_eq!(stats["packets"], 3);
    assert_eq!(stats["router"], "memory");

    // The node is also a router URL like any other.
    let q = ok(qis()
        .args([
            "--router",
            &node.url,
            "query",
            "--domain",
            "clinical_trial",
            "--context",
            CONTEXT,
            "--json",
        ])
        .output()
        .unwrap());
    assert_eq!(q.lines().count(), 3, "--router {}: {q}", node.url);

    // The loud warning, and nothing was written to the data directory (memory: router).
    assert!(node.stderr.lock().unwrap().contains("NO AUTHENTICATION"));
    assert!(!dir.path().join("qis.sqlite3").exists());
}

#[test]
fn tokens_bind_callers_to_their_agent() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        format!("\"{TOKEN_1}\" = \"site_01\"\n\"{TOKEN_2}\" = \"site_02\"\n"),
    )
    .unwrap();
    let data = dir.path().join("store");

    // No tokens and no --insecure-open: the node refuses to start.
    let o = qis()
        .arg("--data")
        .arg(&data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no tokens"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let node = serve(&data, &["--tokens", tokens.to_str().unwrap()]);
    let spoofed = deposit(
        &node.url,
        "site_02",
        "protocol=weekly",
        Some(("QIS_T", TOKEN_1)),
    );
    assert!(!spoofed.status.success());
    let err = String::from_utf8_lossy(&spoofed.stderr);
    assert!(err.contains("agent") && err.contains("site_01"), "{err}");
    let anonymous = deposit(&node.url, "site_01", "protocol=weekly", None);
    assert!(!anonymous.status.success());
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("token"));
    ok(deposit(
        &node.url,
        "site_01",
        "protocol=weekly",
        Some(("QIS_T", TOKEN_1)),
    ));
    ok(deposit(
        &node.url,
        "site_02",
        "protocol=daily",
        Some(("QIS_T", TOKEN_2)),
    ));
    let stats = remote_stats(&node.url, Some(TOKEN_2));
    assert_eq!(
        stats["packets"], 2,
        "only the two honest deposits are stored"
    );
    assert_eq!(stats["router"], "embedded");
}

#[test]
fn serve_serves_the_networks_of_its_tokens_each_in_its_own_directory() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    // The same agent id in two networks, and a network declared with a flag only.
    std::fs::write(
        &tokens,
        format!(
            "\"{TOKEN_1}\" = \"site_01\"\n\"{TOKEN_2}\" = {{ agent = \"site_01\", network = \"lab\" }}\n"
        ),
    )
    .unwrap();
    let config = dir.path().join("qis.toml");
    std::fs::write(&config, "[serve.networks.lab]\nmax_batch = 10\n").unwrap();
    let data = dir.path().join("store");
    let node = serve(
        &data,
        &[
            "--tokens",
            tokens.to_str().unwrap(),
            "--network",
            "lab-eu",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    let lab = format!("{}?network=lab", node.url);
    // `[serve.networks.lab]` set its batch size; `lab-eu` has the node's.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let batch = |network: &str, token: &str| {
        rt.block_on(
            HttpRouter::builder(&node.url)
                .network(Some(network.to_owned()))
                .token(Some(token.to_owned()))
                .connect(),
        )
        .map(|r| r.inner().node().max_batch)
    };
    assert_eq!(batch("lab", TOKEN_2).unwrap(), 10);
    assert!(
        batch("lab-eu", TOKEN_2).is_err(),
        "a token of lab on lab-eu"
    );
    ok(deposit(
        &lab,
        "site_01",
        "protocol=weekly",
        Some(("QIS_T", TOKEN_2)),
    ));
    ok(deposit(
        &lab,
        "site_01",
        "protocol=daily",
        Some(("QIS_T", TOKEN_2)),
    ));
    ok(deposit(
        &node.url,
        "site_01",
        "protocol=weekly",
        Some(("QIS_T", TOKEN_1)),
    ));
    assert_eq!(remote_stats(&lab, Some(TOKEN_2))["packets"], 2);
    assert_eq!(remote_stats(&node.url, Some(TOKEN_1))["packets"], 1);
    // A token of `lab` reaches the default network nowhere.
    let wrong = deposit(
        &node.url,
        "site_01",
        "protocol=weekly",
        Some(("QIS_T", TOKEN_2)),
    );
    assert!(!wrong.status.success());
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(err.contains("network") && err.contains("lab"), "{err}");
    // Each network is a store of its own under the data directory.
    for n in ["lab", "lab-eu"] {
        assert!(data.join("networks").join(n).is_dir(), "{n}");
    }
    assert!(node.stderr.lock().unwrap().contains("lab-eu"));
    drop(node);

    // qis.toml's `[serve.networks]`, and a malformed name refused before the node listens.
    let o = qis()
        .arg("--config")
        .arg(&config)
        .arg("--data")
        .arg(&data)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--insecure-open",
            "--network",
            "lab.eu",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("lab.eu") && err.contains("network name"),
        "{err}"
    );
}

#[test]
fn a_node_requiring_signatures_takes_only_signed_deposits() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(&tokens, format!("\"{TOKEN_1}\" = \"site_01\"\n")).unwrap();
    let key = dir.path().join("site_01.key");
    let line = ok(qis()
        .args(["keygen", "--agent", "site_01", "--out"])
        .arg(&key)
        .output()
        .unwrap());
    let ring = dir.path().join("agents.toml");
    std::fs::write(&ring, line).unwrap();
    let node = serve(
        &dir.path().join("store"),
        &[
            "--tokens",
            tokens.to_str().unwrap(),
            "--agent-keys",
            ring.to_str().unwrap(),
            "--require-signatures",
        ],
    );
    let token = Some(("QIS_T", TOKEN_1));
    let unsigned = deposit(&node.url, "site_01", "protocol=weekly", token);
    assert!(!unsigned.status.success());
    let err = String::from_utf8_lossy(&unsigned.stderr);
    assert!(err.contains("signature"), "{err}");
    ok(deposit_with(
        &node.url,
        "site_01",
        "protocol=weekly",
        token,
        &["--signing-key", key.to_str().unwrap()],
    ));
    let stats = remote_stats(&node.url, Some(TOKEN_1));
    assert_eq!(stats["packets"], 1, "only the signed deposit is stored");
}

#[test]
fn serve_takes_any_router_url() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere");
    let url = format!("file:{}", elsewhere.display());
    let node = serve(
        &dir.path().join("unused"),
        &["--insecure-open", "--router", &url],
    );
    ok(deposit(&node.url, "site_01", "protocol=weekly", None));
    let stats = remote_stats(&node.url, None);
    assert_eq!(stats["router"], "embedded");
    assert_eq!(stats["packets"], 1);
    assert!(elsewhere.is_dir(), "the store is where the URL says");
    drop(node);

    let o = qis()
        .args(["serve", "--insecure-open", "--router", "bogus://x"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bogus"), "{err}");
}

/// kill -9 of `qis serve` while an independent client imports 10,000 packets in batches and
/// records the ids the node acknowledged: after a restart, every acknowledged id is there.
#[test]
fn sigkill_during_a_remote_import_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let node = serve(&data, &["--insecure-open", "--rate", "0"]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addresses: Vec<Address> = (0..4u8)
        .map(|i| Address::from_bytes(&[i + 1; 16]).unwrap())
        .collect();
    let total = 10_000usize;
    let batch = 100usize;
    let (acked, killed_at) = rt.block_on(async {
        let client = HttpRouter::builder(node.url.clone())
            .retries(0)
            .connect()
            .await
            .unwrap();
        let acked = Arc::new(std::sync::Mutex::new(Vec::<PacketId>::new()));
        let done = Arc::new(AtomicBool::new(false));
        let importer = {
            let (acked, done, addresses) = (acked.clone(), done.clone(), addresses.clone());
            tokio::spawn(async move {
                for start in (0..total).step_by(batch) {
                    let packets: Vec<Routed> = (start..start + batch)
                        .map(|i| {
                            Routed::new(
                                Packet::builder(
                                    format!("agent-{}", i % 50),
                                    "bulk",
                                    addresses[i % addresses.len()],
                                )
                                .outcome(Outcome::Resolved)
                                .confidence(0.5)
                                .result("i", i as f64)
                                .build()
                                .unwrap(),
                            )
                        })
                        .collect();
                    match client.deposit(&packets).await {
                        // Acknowledged: the node answered receipts for the whole batch.
                        Ok(receipts) => acked.lock().unwrap().extend(receipts.iter().map(|r| r.id)),
                        Err(_) => break,
                    }
                }
                done.store(true, Ordering::SeqCst);
            })
        };
        // Kill once a good part is acknowledged, while the import goes on.
        loop {
            let n = acked.lock().unwrap().len();
            if n >= 3_000 || done.load(Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let killed_at = acked.lock().unwrap().len();
        drop(node); // SIGKILL
        tokio::time::timeout(Duration::from_secs(30), importer)
            .await
            .unwrap()
            .unwrap();
        let acked = acked.lock().unwrap().clone();
        (acked, killed_at)
    });
    assert!(
        killed_at >= 3_000 && killed_at < total,
        "killed mid-import after {killed_at} acknowledged"
    );
    assert!(
        acked.len() < total,
        "the import was cut short ({} acknowledged)",
        acked.len()
    );

    let node = serve(&data, &["--insecure-open"]);
    let found = rt.block_on(async {
        let client = HttpRouter::connect(&node.url, None).await.unwrap();
        let mut found = std::collections::HashSet::new();
        for a in &addresses {
            let hits = client.query(&Query::exact(*a).limit(10_000)).await.unwrap();
            found.extend(hits.iter().map(|h| h.packet.id()));
        }
        found
    });
    let missing = acked.iter().filter(|id| !found.contains(id)).count();
    assert_eq!(
        missing,
        0,
        "{missing} of {} acknowledged packets are missing after the restart",
        acked.len()
    );
}

#[test]
fn serve_applies_its_connection_flags() {
    use std::io::Read as _;
    let dir = tempfile::tempdir().unwrap();
    let node = serve(
        dir.path(),
        &[
            "--insecure-open",
            "--router",
            "memory:",
            "--header-timeout",
            "1s",
            "--max-connections",
            "8",
        ],
    );
    let addr = node.url.trim_start_matches("http://").to_owned();
    // A connection that sends nothing is closed after --header-timeout.
    let mut silent = std::net::TcpStream::connect(&addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let start = std::time::Instant::now();
    let n = silent.read(&mut [0u8; 64]).unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(15),
        "{took:?}"
    );
}
