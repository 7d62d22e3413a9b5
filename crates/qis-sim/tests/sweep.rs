//! A sweep's outputs: deterministic, complete, and the router meter agrees with the router.

use std::path::Path;

use qis_sim::plot;
use qis_sim::policy::Routing;
use qis_sim::report::Report;
use qis_sim::sweep::{SweepConfig, execute};

fn tiny(seed: u64) -> SweepConfig {
    SweepConfig {
        agents: vec![1, 6],
        rounds: 6,
        replicate_agents: 6,
        cost_rounds: 4,
        vector_max_agents: 6,
        cold_start_agents: 10,
        robustness_agents: 10,
        dishonest: vec![0.0, 0.2],
        flood: vec![0, 5],
        feedback_agents: vec![6],
        ..SweepConfig::quick(seed)
    }
}

fn sweep_into(config: &SweepConfig, dir: &Path) -> String {
    let jobs = config.jobs();
    let results = execute(&jobs, &|_| {}).unwrap();
    let report = Report::new(config, &jobs, &results);
    report.write_csv(dir).unwrap();
    plot::write_all(&report, dir).unwrap();
    report.table()
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_same_seed_gives_byte_identical_tables_csv_and_plots() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let table_a = sweep_into(&tiny(7), a.path());
    let table_b = sweep_into(&tiny(7), b.path());
    let table_c = sweep_into(&tiny(8), c.path());
    assert_eq!(table_a, table_b);
    assert_ne!(table_a, table_c);
    for policy in ["isolated", "qis", "central"] {
        assert!(table_a.contains(policy), "{table_a}");
    }

    let (fa, fb) = (files(a.path()), files(b.path()));
    let names: Vec<&str> = fa.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "regret_vs_n.csv",
        "cold_start.csv",
        "routing_cost.csv",
        "dishonest.csv",
        "flood.csv",
        "feedback.csv",
        "timing.csv",
        "regret_vs_n.svg",
        "peers.svg",
        "cold_start.svg",
        "routing_cost.svg",
        "robustness.svg",
        "feedback.svg",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    for ((name, x), (_, y)) in fa.iter().zip(&fb) {
        // Wall-clock time per query is the one thing that is not a function of the seed.
        if name != "timing.csv" {
            assert!(x == y, "{name} differs between two runs of the same seed");
        }
    }
    let regret = String::from_utf8(
        fa.iter()
            .find(|(n, _)| n == "regret_vs_n.csv")
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    // A header and a row per (N, policy/method).
    assert_eq!(regret.lines().count(), 1 + 2 * 3, "{regret}");
    let svg = String::from_utf8(
        fa.iter()
            .find(|(n, _)| n == "regret_vs_n.svg")
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("isolated") && svg.contains("central"));
}

#[test]
fn routing_cost_follows_the_memory_router() {
    let config = tiny(3);
    let jobs = config.jobs();
    let results = execute(&jobs, &|_| {}).unwrap();
    let report = Report::new(&config, &jobs, &results);
    for r in &report.routing {
        // One query per option per decision.
        assert_eq!(r.queries_per_decision, 4.0, "{r:?}");
        match r.routing {
            // An exact query walks at most what it returns plus the caller's own packets it skips.
            Routing::Exact => assert!(r.examined_per_query >= r.hits_per_query, "{r:?}"),
            // A vector query looks at every packet stored so far: on average about half of the
            // run's, whatever it returns.
            Routing::Vector => {
                let half = r.packets_stored as f64 / 2.0;
                assert!(
                    (r.examined_per_query - half).abs() <= half * 0.3 + 1.0,
                    "{r:?}"
                );
            }
        }
        if r.agents == 1 {
            assert_eq!(
                r.hits_per_query, 0.0,
                "a lone agent's own packets are excluded"
            );
        }
    }
}

/// The same runs on the embedded store (a directory per run) give the same results as on memory
/// routers: the simulator measures qis, not the backend.
#[test]
fn runs_on_another_router_give_the_same_results() {
    let config = SweepConfig {
        agents: vec![4],
        rounds: 4,
        feedback_agents: vec![4],
        ..tiny(11)
    };
    let jobs = config.jobs();
    let on_memory = execute(&jobs, &|_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file:{}", dir.path().display());
    let spec = qis::router::url::parse_url(&url).unwrap();
    let on_disk = qis_sim::sweep::execute_on(&jobs, Some(&spec), &|_| {}).unwrap();
    let table = |results| Report::new(&config, &jobs, results).table();
    assert_eq!(table(&on_memory), table(&on_disk));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "every run's directory is removed after it"
    );
    // A node has no namespaces: refused before anything runs.
    let node = qis::router::url::parse_url("http://127.0.0.1:9").unwrap();
    assert!(qis_sim::sweep::execute_on(&jobs, Some(&node), &|_| {}).is_err());
}
