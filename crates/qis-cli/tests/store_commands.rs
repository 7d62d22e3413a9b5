//! The store commands, end to end, as a user runs them: deposit, query, synth, stats, purge,
//! export, import (including a kill -9 in the middle of a long import).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn qis(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qis"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("QIS_DATA")
        .env_remove("QIS_CONFIG")
        .env_remove("QIS_AGENT")
        .output()
        .expect("run qis")
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn failed(o: Output) -> String {
    assert!(
        !o.status.success(),
        "should have failed: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stderr).unwrap()
}

const CONTEXT: &str = r#"{"condition": "T2D", "intervention_type": "GLP1"}"#;

fn deposit(
    data: &Path,
    agent: &str,
    outcome: &str,
    confidence: &str,
    protocol: &str,
    extra: &[&str],
) -> String {
    let mut args = vec![
        "deposit",
        "--agent",
        agent,
        "--domain",
        "clinical_trial",
        "--context",
        CONTEXT,
        "--outcome",
        outcome,
        "--confidence",
        confidence,
        "--result",
        protocol,
        "--result",
        "hba1c=1.2",
        "--summary",
        "weekly dosing",
    ];
    args.extend_from_slice(extra);
    ok(qis(data, &args))
}

#[test]
fn deposit_query_synth_stats_and_purge() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let out = deposit(
        data,
        "site_01",
        "resolved",
        "0.9",
        "protocol=weekly",
        &["--tag", "t2d"],
    );
    assert!(
        out.starts_with("stored ") && out.contains("1dd96c30c27fe860"),
        "{out}"
    );
    deposit(data, "site_02", "resolved", "0.8", "protocol=weekly", &[]);
    deposit(
        data,
        "site_03",
        "contradicted",
        "0.7",
        "protocol=daily",
        &["--ttl", "1s"],
    );

    let q = ok(qis(
        data,
        &[
            "query",
            "--domain",
            "clinical_trial",
            "--context",
            CONTEXT,
            "--json",
        ],
    ));
    assert_eq!(q.lines().count(), 3, "{q}");
    let tagged = ok(qis(
        data,
        &[
            "query",
            "--domain",
            "clinical_trial",
            "--context",
            CONTEXT,
            "--tag",
            "t2d",
            "--json",
        ],
    ));
    assert_eq!(tagged.lines().count(), 1);
    assert!(tagged.contains("site_01"));
    let by_address = ok(qis(
        data,
        &[
            "query",
            "--address",
            "1dd96c30c27fe860",
            "--outcome",
            "contradicted",
            "--json",
        ],
    ));
    assert_eq!(by_address.lines().count(), 1);
    assert!(by_address.contains("site_03"));

    let s = ok(qis(
        data,
        &[
            "synth",
            "--domain",
            "clinical_trial",
            "--context",
            CONTEXT,
            "--method",
            "frequency",
            "--json",
        ],
    ));
    let insight: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(insight["sample_size"], 3);
    assert_eq!(insight["best"]["protocol"], "weekly");

    let stats: serde_json::Value =
        serde_json::from_str(&ok(qis(data, &["stats", "--json"]))).unwrap();
    assert_eq!(stats["total_packets"], 3);
    assert_eq!(stats["status"], "green");

    std::thread::sleep(std::time::Duration::from_millis(1100));
    let q = ok(qis(
        data,
        &[
            "query",
            "--domain",
            "clinical_trial",
            "--context",
            CONTEXT,
            "--json",
        ],
    ));
    assert_eq!(q.lines().count(), 2, "the expired packet is never returned");
    assert_eq!(
        ok(qis(data, &["purge"])).trim(),
        "removed 1 expired packets"
    );
    let stats: serde_json::Value =
        serde_json::from_str(&ok(qis(data, &["stats", "--json"]))).unwrap();
    assert_eq!(stats["total_packets"], 2);
}

#[test]
fn text_queries_find_problems_by_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let problems = [
        ("a", "database connection pool exhausted under peak load"),
        (
            "b",
            "flaky integration tests fail intermittently on CI runners",
        ),
        ("c", "crop irrigation schedule wastes water in sandy soil"),
    ];
    for (agent, problem) in problems {
        deposit(
            data,
            agent,
            "resolved",
            "0.9",
            "fix=yes",
            &["--problem", problem, "--embedder", "hashed"],
        );
    }
    let out = ok(qis(
        data,
        &[
            "query",
            "--text",
            "the pool of database connections runs out at peak",
            "--limit",
            "1",
            "--embedder",
            "hashed",
            "--json",
        ],
    ));
    let hit: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(hit["packet"]["agent"], "a");
    assert!(hit["score"].as_f64().unwrap() > 0.3);
    // Vectors of two embedders never mix in one store.
    let err = failed(qis(data, &["query", "--text", "x", "--embedder", "minilm"]));
    assert!(err.contains("embedder"), "{err}");
}

#[test]
fn export_and_import_round_trip_losslessly() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    deposit(
        &a,
        "site_01",
        "resolved",
        "0.9",
        "protocol=weekly",
        &["--problem", "HbA1c stays high", "--embedder", "hashed"],
    );
    deposit(
        &a,
        "site_02",
        "partial",
        "0.55",
        "protocol=daily",
        &["--tag", "x", "--ttl", "7d"],
    );
    let file = dir.path().join("packets.jsonl");
    ok(qis(&a, &["export", "--out", file.to_str().unwrap()]));
    let first = std::fs::read_to_string(&file).unwrap();
    assert_eq!(first.lines().count(), 2);
    assert!(first.contains("\"vector\":["));
    let out = qis(&b, &["import", file.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("imported 2 packets (2 new"),
        "{out:?}"
    );
    let again = dir.path().join("again.jsonl");
    ok(qis(&b, &["export", "--out", again.to_str().unwrap()]));
    assert_eq!(
        std::fs::read_to_string(&again).unwrap(),
        first,
        "export → import → export is the identity"
    );
    // Importing again stores nothing new.
    let out = qis(&b, &["import", file.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("(0 new, 2 already stored)"));
}

#[test]
fn a_bad_import_line_names_its_number_and_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for i in 0..3 {
        deposit(
            &a,
            &format!("s{i}"),
            "resolved",
            "0.9",
            "protocol=weekly",
            &[],
        );
    }
    let file = dir.path().join("packets.jsonl");
    ok(qis(&a, &["export", "--out", file.to_str().unwrap()]));
    let mut lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.insert(
        2,
        lines[1].replace("\"confidence\":0.9", "\"confidence\":1.9"),
    );
    std::fs::write(&file, lines.join("\n")).unwrap();
    let err = failed(qis(&b, &["import", file.to_str().unwrap()]));
    assert!(
        err.contains("line 3") && err.contains("confidence"),
        "{err}"
    );
    let stats: serde_json::Value =
        serde_json::from_str(&ok(qis(&b, &["stats", "--json"]))).unwrap();
    assert_eq!(stats["total_packets"], 0, "nothing half-imported");
}

/// A line the router would refuse, half way through an import of several batches: nothing is
/// imported, and the message names the line. Before the fix, the batches ahead of it were stored.
#[test]
fn an_import_refused_half_way_imports_nothing_and_names_the_line() {
    use qis::packet::{Address, Outcome, Packet, now_ms};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let file = write_packets(dir.path(), 3_000);
    let lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let address = Address::from_hex("00112233445566778899aabbccddeeff").unwrap();
    let bad = |p: Packet| p.to_json();
    let reused: Packet = Packet::from_json(&lines[9]).unwrap();
    let cases = [
        (
            bad(Packet::builder("ahead", "bulk", address)
                .created(now_ms() + 3_600_000)
                .build()
                .unwrap()),
            "in the future",
        ),
        (
            bad(Packet::builder("past", "bulk", address)
                .created(now_ms() - 7_200_000)
                .ttl_secs(3_600)
                .build()
                .unwrap()),
            "expired",
        ),
        (
            bad(Packet::builder(reused.agent(), "bulk", address)
                .id(reused.id())
                .outcome(Outcome::Partial)
                .build()
                .unwrap()),
            "line 10 with other content",
        ),
    ];
    for (line, says) in cases {
        let mut edited = lines.clone();
        edited[1_499] = line;
        let path = dir.path().join("edited.jsonl");
        std::fs::write(&path, edited.join("\n")).unwrap();
        let err = failed(qis(
            &data,
            &["import", "--batch", "1000", path.to_str().unwrap()],
        ));
        assert!(err.contains("line 1500") && err.contains(says), "{err}");
        assert!(err.contains("nothing was imported"), "{err}");
        let stats: serde_json::Value =
            serde_json::from_str(&ok(qis(&data, &["stats", "--json"]))).unwrap();
        assert_eq!(stats["total_packets"], 0, "{says}: nothing half-imported");
    }
}

/// An input that never ends a line is refused at the line cap, not read until memory runs out;
/// standard input streams (copied aside for the second pass), and imports as a file does.
#[test]
fn import_caps_its_lines_and_streams_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let err = failed(qis(&data, &["import", "/dev/zero"]));
    assert!(err.contains("line 1: longer than 1048576 bytes"), "{err}");
    let file = write_packets(dir.path(), 50);
    let mut child = Command::new(env!("CARGO_BIN_EXE_qis"))
        .arg("--data")
        .arg(&data)
        .args(["import", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&file).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("imported 50 packets (50 new"),
        "{out:?}"
    );
}

#[test]
fn bad_flags_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "deposit",
                "--domain",
                "d",
                "--context",
                "{}",
                "--outcome",
                "resolved",
                "--confidence",
                "0.5",
            ],
            "--agent",
        ),
        (
            vec![
                "deposit",
                "--agent",
                "a",
                "--domain",
                "d",
                "--context",
                "{}",
                "--outcome",
                "won",
                "--confidence",
                "0.5",
            ],
            "outcome",
        ),
        (
            vec![
                "deposit",
                "--agent",
                "a",
                "--domain",
                "d",
                "--context",
                "{}",
                "--outcome",
                "open",
                "--confidence",
                "7",
            ],
            "confidence",
        ),
        (vec!["query", "--context", "{}"], "--domain"),
        (vec!["query"], "say what to query"),
        (vec!["query", "--address", "xyz"], "address"),
        (
            vec!["query", "--address", "00ff", "--since", "3 fortnights"],
            "--since",
        ),
        (vec!["query", "--address", "00ff", "--limit", "0"], "limit"),
        (
            vec!["synth", "--address", "00ff", "--method", "vibes"],
            "frequency, weighted or bayesian",
        ),
        (vec!["import", "/nonexistent.jsonl"], "cannot open"),
        // Negative values reach the flag's rule, rather than reading as unknown arguments.
        (
            vec![
                "deposit",
                "--agent",
                "a",
                "--domain",
                "d",
                "--context",
                "{}",
                "--outcome",
                "resolved",
                "--confidence",
                "-1",
            ],
            "invalid value '-1' for '--confidence",
        ),
        (
            vec![
                "deposit",
                "--agent",
                "a",
                "--domain",
                "d",
                "--context",
                "{}",
                "--outcome",
                "resolved",
                "--confidence",
                "0.5",
                "--ttl",
                "-5s",
            ],
            "invalid value '-5s' for '--ttl",
        ),
        (
            vec!["query", "--address", "00ff", "--min-confidence", "-0.5"],
            "invalid value '-0.5' for '--min-confidence",
        ),
        (
            vec!["query", "--address", "00ff", "--limit", "-5"],
            "invalid value '-5' for '--limit",
        ),
    ];
    for (args, expected) in cases {
        let err = failed(qis(data, &args));
        assert!(
            err.contains(expected),
            "{args:?}: expected {expected:?} in {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_second_process_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let file = write_packets(dir.path(), 20_000);
    let mut child = spawn_import(data, &file, 100);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    lines.next().unwrap().unwrap(); // the store is open and importing
    let err = failed(qis(data, &["stats"]));
    assert!(err.contains("in use by another process"), "{err}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `qis import --ack` of `file` into `data` in batches of `batch`, running in the background.
fn spawn_import(data: &Path, file: &Path, batch: u32) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_qis"))
        .arg("--data")
        .arg(data)
        .args(["import", "--ack", "--batch", &batch.to_string()])
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// `n` valid packet lines (distinct ids and agents) in a JSON Lines file.
fn write_packets(dir: &Path, n: usize) -> std::path::PathBuf {
    let path = dir.join(format!("many-{n}.jsonl"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let address = qis::packet::Address::from_hex("00112233445566778899aabbccddeeff").unwrap();
    for i in 0..n {
        let p = qis::packet::Packet::builder(format!("agent-{i}"), "bulk", address)
            .outcome(qis::packet::Outcome::Resolved)
            .confidence(0.5)
            .result("i", i as f64)
            .summary("bulk import")
            .build()
            .unwrap();
        writeln!(out, "{}", p.to_json()).unwrap();
    }
    out.flush().unwrap();
    path
}

/// Kill -9 in the middle of a long import: every packet acknowledged before the kill is there,
/// and the store opens cleanly afterwards.
#[test]
fn sigkill_during_import_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let n = 30_000;
    let file = write_packets(dir.path(), n);
    let mut child = spawn_import(&data, &file, 200);
    let mut acknowledged = 0usize;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        acknowledged = line.strip_prefix("acknowledged ").unwrap().parse().unwrap();
        if acknowledged >= 3_000 {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert!(
        acknowledged >= 3_000 && acknowledged < n,
        "killed mid-import after {acknowledged}"
    );

    // Every acknowledged packet (the first `acknowledged` lines, in order) is stored.
    let text = std::fs::read_to_string(&file).unwrap();
    let expected: Vec<String> = text
        .lines()
        .take(acknowledged)
        .map(|l| qis::packet::Packet::from_json(l).unwrap().id().to_string())
        .collect();
    let exported = dir.path().join("after.jsonl");
    ok(qis(&data, &["export", "--out", exported.to_str().unwrap()]));
    let stored: std::collections::HashSet<String> = std::fs::read_to_string(&exported)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["packet"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(stored.len() >= acknowledged);
    for id in &expected {
        assert!(stored.contains(id), "acknowledged packet {id} was lost");
    }
    // And the import can simply be run again to finish: nothing is stored twice.
    ok(qis(&data, &["import", file.to_str().unwrap()]));
    let stats: serde_json::Value =
        serde_json::from_str(&ok(qis(&data, &["stats", "--json"]))).unwrap();
    assert_eq!(stats["total_packets"], n);
}

#[test]
fn keygen_signed_deposits_and_synthesis_that_requires_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let key = dir.path().join("site_01.key");
    let keygen = || {
        qis(
            &data,
            &[
                "keygen",
                "--agent",
                "site_01",
                "--out",
                key.to_str().unwrap(),
            ],
        )
    };
    let line = ok(keygen());
    assert!(line.starts_with("site_01 = \""), "{line}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the secret key is private: {mode:o}");
    }
    let ring = dir.path().join("agents.toml");
    std::fs::write(&ring, &line).unwrap();
    // keygen never overwrites a key.
    let err = failed(keygen());
    assert!(err.contains("already exists"), "{err}");

    deposit(
        &data,
        "site_01",
        "resolved",
        "0.9",
        "protocol=weekly",
        &["--signing-key", key.to_str().unwrap()],
    );
    deposit(&data, "site_02", "resolved", "0.9", "protocol=daily", &[]);
    let synth = |extra: &[&str]| {
        let mut args = vec![
            "synth",
            "--domain",
            "clinical_trial",
            "--context",
            CONTEXT,
            "--method",
            "frequency",
            "--json",
        ];
        args.extend_from_slice(extra);
        let insight: serde_json::Value = serde_json::from_str(&ok(qis(&data, &args))).unwrap();
        insight
    };
    assert_eq!(synth(&[])["sample_size"], 2);
    let verified = synth(&["--agent-keys", ring.to_str().unwrap()]);
    assert_eq!(verified["sample_size"], 1, "{verified}");
    assert_eq!(verified["best"]["protocol"], "weekly", "{verified}");

    let bad = dir.path().join("bad.key");
    std::fs::write(&bad, "not hex").unwrap();
    let err = failed(qis(
        &data,
        &[
            "deposit",
            "--agent",
            "site_01",
            "--domain",
            "d",
            "--context",
            "{}",
            "--outcome",
            "resolved",
            "--confidence",
            "0.5",
            "--signing-key",
            bad.to_str().unwrap(),
        ],
    ));
    assert!(
        err.contains("64 hex digits") && err.contains("bad.key"),
        "{err}"
    );
}

#[test]
fn an_import_with_vectors_of_two_dimensions_names_the_line_and_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    deposit(
        &a,
        "site_01",
        "resolved",
        "0.9",
        "protocol=weekly",
        &["--problem", "HbA1c stays high", "--embedder", "hashed"],
    );
    let file = dir.path().join("packets.jsonl");
    ok(qis(&a, &["export", "--out", file.to_str().unwrap()]));
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&file).unwrap().trim()).unwrap();
    let mut short = line.clone();
    short["vector"] = serde_json::json!([0.6, 0.8]);
    std::fs::write(&file, format!("{line}\n{short}\n")).unwrap();
    let b = dir.path().join("b");
    let out = qis(&b, &["import", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 2: the vector has 2 dimensions but the store holds 384-dimensional vectors; nothing was imported"),
        "{err}"
    );
}

#[test]
fn forget_takes_packets_back_and_refuses_their_replay() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let receipt = |out: String| -> serde_json::Value { serde_json::from_str(&out).unwrap() };
    let a = receipt(deposit(
        &data,
        "site_01",
        "resolved",
        "0.9",
        "protocol=weekly",
        &["--json"],
    ));
    deposit(&data, "site_02", "resolved", "0.8", "protocol=weekly", &[]);
    deposit(&data, "site_02", "partial", "0.6", "protocol=daily", &[]);
    let file = dir.path().join("packets.jsonl");
    ok(qis(&data, &["export", "--out", file.to_str().unwrap()]));

    let id = a["id"].as_str().unwrap();
    let out = ok(qis(&data, &["forget", "--id", id, "--json"]));
    assert_eq!(out.trim(), r#"{"removed":1}"#);
    let out = ok(qis(&data, &["forget", "--agent", "site_02"]));
    assert!(out.starts_with("forgot 2 packets"), "{out}");
    let stats: serde_json::Value =
        serde_json::from_str(&ok(qis(&data, &["stats", "--json"]))).unwrap();
    assert_eq!(stats["total_packets"], 0);
    // A replay of the forgotten packets (the export) is refused, and stores nothing.
    let err = failed(qis(&data, &["import", file.to_str().unwrap()]));
    assert!(err.contains("forgotten"), "{err}");
    let err = failed(qis(&data, &["forget"]));
    assert!(err.contains("ids"), "{err}");
    let err = failed(qis(&data, &["forget", "--address", "zz"]));
    assert!(err.contains("address"), "{err}");
}

#[test]
fn addresses_lists_what_the_store_holds_most_recent_first() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    deposit(data, "site_01", "resolved", "0.9", "protocol=weekly", &[]);
    deposit(data, "site_02", "resolved", "0.8", "protocol=weekly", &[]);
    let page: serde_json::Value =
        serde_json::from_str(&ok(qis(data, &["addresses", "--json"]))).unwrap();
    assert_eq!(page["addresses"][0]["address"], "1dd96c30c27fe860");
    assert_eq!(page["addresses"][0]["packets"], 2);
    assert_eq!(page["addresses"][0]["domain"], "clinical_trial");
    let table = ok(qis(data, &["addresses"]));
    assert!(
        table.contains("1dd96c30c27fe860") && table.contains("clinical_trial"),
        "{table}"
    );
    let err = failed(qis(data, &["addresses", "--limit", "0"]));
    assert!(err.contains("limit"), "{err}");
}
