//! The `qis` binary as a user runs it.

use std::process::{Command, Output};

fn qis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qis"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run qis")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn demo_runs_the_whole_loop() {
    let o = qis(&["demo", "--ephemeral", "--seed", "7"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for expected in [
        "address 1dd96c30c27fe860",
        "20 packets in the bucket",
        "retrieved 20 peer outcomes from 20 agents",
        "consensus rate:",
        "best-supported outcome: {",
        "embedded store",
        "weighted synthesis",
        "bayesian synthesis",
        "P(resolved)",
        "credible interval",
        "Phase 3: feedback loop",
        "derived from",
        "nothing counts twice",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    // The same seed prints the same numbers (ids and timestamps aside).
    let again = stdout(&qis(&["demo", "--ephemeral", "--seed", "7"]));
    let numbers = |s: &str| {
        s.lines()
            .filter(|l| l.contains("mean") || l.contains("consensus"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(numbers(&out), numbers(&again));
}

#[test]
fn semantic_demo_shows_the_cold_start_curve() {
    let o = qis(&["demo", "--ephemeral", "--semantic", "--embedder", "hashed"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("[agent_000] deposited. Found 0 related packets"),
        "{out}"
    );
    assert!(
        out.contains("[agent_019] deposited. Found 4 related packets"),
        "{out}"
    );
    assert!(out.contains("Cold-start curve"));
    assert!(
        out.contains("'total_packets': 20, 'indexed_packets': 20"),
        "{out}"
    );
}

#[test]
fn fingerprint_prints_the_seed_address() {
    let o = qis(&[
        "fingerprint",
        "--scheme",
        "keys",
        "--domain",
        "clinical_trial",
        "--context",
        r#"{"intervention_type": "GLP1", "condition": "T2D"}"#,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "1dd96c30c27fe860");
}

#[test]
fn fingerprint_fields_and_keyed() {
    let schema = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/examples/clinical.toml"
    );
    let a = qis(&[
        "fingerprint",
        "--scheme",
        "fields",
        "--schema",
        schema,
        "--domain",
        "t",
        "--context",
        r#"{"condition": " T2D", "age": 47, "bmi": 31.2}"#,
    ]);
    let b = qis(&[
        "fingerprint",
        "--scheme",
        "fields",
        "--schema",
        schema,
        "--domain",
        "t",
        "--context",
        r#"{"bmi": 35, "age": "41", "condition": "t2d", "site": "x"}"#,
    ]);
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(stdout(&a), stdout(&b));
    assert_eq!(stdout(&a).trim().len(), 32);

    let keyed = Command::new(env!("CARGO_BIN_EXE_qis"))
        .args([
            "fingerprint",
            "--secret-env",
            "QIS_TEST_SECRET",
            "--domain",
            "clinical_trial",
            "--context",
            r#"{"condition": "T2D", "intervention_type": "GLP1"}"#,
        ])
        .env("QIS_TEST_SECRET", "a network secret of enough bytes")
        .output()
        .unwrap();
    assert!(keyed.status.success(), "{}", stderr(&keyed));
    assert_ne!(stdout(&keyed).trim(), "1dd96c30c27fe860");
    assert_eq!(stdout(&keyed).trim().len(), 16);
}

#[test]
fn bad_input_is_a_clear_error_and_a_failing_exit() {
    let schema = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/examples/clinical.toml"
    );
    let bad_schema =
        std::env::temp_dir().join(format!("qis-bad-schema-{}.toml", std::process::id()));
    std::fs::write(
        &bad_schema,
        "[[field]]\nname = \"age\"\nnormalize = \"bucket\"\n",
    )
    .unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["fingerprint", "--domain", "d", "--context", "{\"a\":"],
            "--context: not valid JSON",
        ),
        (
            vec!["fingerprint", "--domain", "d", "--context", "[1, 2]"],
            "must be a JSON object, got an array",
        ),
        (
            vec![
                "fingerprint",
                "--scheme",
                "fields",
                "--domain",
                "d",
                "--context",
                "{}",
            ],
            "the fields scheme needs a routing schema",
        ),
        (
            vec![
                "fingerprint",
                "--scheme",
                "fields",
                "--schema",
                bad_schema.to_str().unwrap(),
                "--domain",
                "d",
                "--context",
                "{}",
            ],
            "field `age` normalize = \"bucket\" needs `width`",
        ),
        (
            vec![
                "fingerprint",
                "--scheme",
                "fields",
                "--schema",
                schema,
                "--domain",
                "d",
                "--context",
                "{\"age\": 3}",
            ],
            "context.condition",
        ),
        (
            vec![
                "fingerprint",
                "--secret-env",
                "QIS_SURELY_UNSET",
                "--domain",
                "d",
                "--context",
                "{}",
            ],
            "QIS_SURELY_UNSET is not set",
        ),
        (
            vec![
                "fingerprint",
                "--scheme",
                "nope",
                "--domain",
                "d",
                "--context",
                "{}",
            ],
            "invalid value 'nope'",
        ),
        (vec!["demo", "--agents", "0"], "--agents"),
    ];
    for (args, expected) in cases {
        let o = qis(&args);
        assert!(!o.status.success(), "{args:?} should fail");
        let err = stderr(&o);
        assert!(
            err.contains(expected),
            "{args:?}: expected {expected:?} in {err:?}"
        );
        assert!(
            !err.contains("stack backtrace") && !err.contains("panicked"),
            "{err}"
        );
    }
    let _ = std::fs::remove_file(bad_schema);
}

#[test]
fn help_is_everywhere() {
    for args in [
        vec!["--help"],
        vec!["demo", "--help"],
        vec!["fingerprint", "--help"],
    ] {
        let o = qis(&args);
        assert!(o.status.success());
        assert!(stdout(&o).contains("Usage"));
    }
}

#[test]
fn a_closed_pipe_ends_quietly() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_qis"))
        .args(["demo", "--ephemeral", "--agents", "200"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone: the next write hits a closed pipe.
    let out = child.wait_with_output().unwrap();
    assert!(first.contains("Routing layer"), "{first}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn simulate_quick_is_deterministic_and_names_the_three_policies() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let spawn = |dir: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_qis"))
            .args(["simulate", "--quick", "--seed", "7", "--out"])
            .arg(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run qis simulate")
    };
    // Both at once: each takes a few seconds in a debug build.
    let (pa, pb) = (spawn(a.path()), spawn(b.path()));
    let (oa, ob) = (
        pa.wait_with_output().unwrap(),
        pb.wait_with_output().unwrap(),
    );
    assert!(oa.status.success(), "{}", stderr(&oa));
    assert!(ob.status.success(), "{}", stderr(&ob));
    let out = stdout(&oa);
    assert_eq!(out, stdout(&ob), "same seed, different stdout");
    for expected in [
        "policies: isolated, qis, central",
        "## Regret per decision versus N",
        "## Cold start",
        "## Routing cost",
        "## Dishonest agents",
        "## One flooding agent",
        "## Feedback loop",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    for policy in ["isolated", "qis", "central"] {
        assert!(
            out.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(policy)),
            "no row for {policy} in:\n{out}"
        );
    }
    for csv in [
        "regret_vs_n.csv",
        "cold_start.csv",
        "routing_cost.csv",
        "dishonest.csv",
        "flood.csv",
        "feedback.csv",
    ] {
        let x = std::fs::read(a.path().join(csv)).unwrap();
        let y = std::fs::read(b.path().join(csv)).unwrap();
        assert!(x == y, "{csv} differs between two runs of the same seed");
    }
    assert!(a.path().join("regret_vs_n.svg").exists());
    // Progress bars stay off a stderr that is not a terminal: it holds only the closing line.
    assert_eq!(stderr(&oa).lines().count(), 1, "{}", stderr(&oa));
}

#[test]
fn simulate_refuses_bad_settings() {
    let o = qis(&[
        "simulate",
        "--quick",
        "--dishonest",
        "1.5",
        "--out",
        "/nonexistent/x",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("dishonest"), "{}", stderr(&o));
    let o = qis(&["simulate", "--help"]);
    let help = stdout(&o);
    for flag in [
        "--seed",
        "--quick",
        "--agents",
        "--rounds",
        "--synth",
        "--routing",
        "--dishonest",
        "--flood",
        "--feedback",
        "--out",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn the_router_flag_picks_a_backend() {
    // memory: works in any build.
    let o = qis(&["--router", "memory:", "stats", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("\"total_packets\":0"), "{}", stdout(&o));

    // A typo in a parameter is refused, naming the known ones.
    let o = qis(&["--router", "nats://127.0.0.1:1/net?replica=3", "stats"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("known: replicas"), "{}", stderr(&o));

    // An engine that is down (or not compiled in) is a clear error, quickly.
    let start = std::time::Instant::now();
    let o = qis(&["--router", "chroma://127.0.0.1:1/net?timeout=2s", "stats"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("cannot reach") || err.contains("feature `chroma`"),
        "{err}"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(10));

    // --router and --data together are refused.
    let o = qis(&["--router", "memory:", "--data", "x", "stats"]);
    assert!(!o.status.success());
}

/// `qis bench --data DIR --packets 2000 --queries 10 … --report-only`, which must succeed: its
/// reports, one per router.
fn bench_reports(data: &std::path::Path, more: &[&str]) -> serde_json::Value {
    let data = data.to_str().unwrap();
    let mut args = vec![
        "--data",
        data,
        "bench",
        "--packets",
        "2000",
        "--queries",
        "10",
    ];
    args.extend_from_slice(more);
    args.push("--report-only");
    let out = qis(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap()
}

/// The recall of every row of `report` that has one.
fn recalls(report: &serde_json::Value) -> Vec<f64> {
    let rows = report["rows"].as_array().unwrap();
    rows.iter().filter_map(|r| r["recall"].as_f64()).collect()
}

/// `qis bench` runs inside `--data` (and removes its directory), answers every row with its
/// percentiles, and finds the exact answers on a store small enough to be searched exactly.
#[test]
fn bench_runs_in_the_data_directory_and_measures_recall() {
    let data = tempfile::tempdir().unwrap();
    let reports = bench_reports(data.path(), &[]);
    let report = &reports[0];
    assert!(
        report["dir"]
            .as_str()
            .unwrap()
            .starts_with(data.path().to_str().unwrap())
    );
    assert_eq!(
        std::fs::read_dir(data.path()).unwrap().count(),
        0,
        "removed after"
    );
    let rows = report["rows"].as_array().unwrap();
    assert!(
        rows.iter()
            .all(|r| r["p99_ms"].as_f64().unwrap() >= r["p50_ms"].as_f64().unwrap())
    );
    let recalls = recalls(report);
    assert_eq!(
        recalls.len(),
        6,
        "three filters, before and after reopening"
    );
    assert!(recalls.iter().all(|&r| r == 1.0), "{recalls:?}");
}

/// `qis bench --against URL` gives the second router the very packets the first got, ids
/// included: recall compares ids, so the memory router's exact search finds every answer.
#[test]
fn bench_against_a_second_router_measures_it_on_the_same_packets() {
    let data = tempfile::tempdir().unwrap();
    let reports = bench_reports(data.path(), &["--against", "memory:"]);
    let against = &reports[1];
    assert_eq!(against["router"], "memory:");
    let recalls = recalls(against);
    assert_eq!(recalls.len(), 3, "three filters");
    assert!(recalls.iter().all(|&r| r == 1.0), "{recalls:?}");
}
