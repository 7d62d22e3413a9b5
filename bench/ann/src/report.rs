//! `ann-bench report`: results/runs.jsonl as Markdown tables (the last run of each configuration).

use std::collections::BTreeMap;
use std::fs;

use serde_json::Value;

fn key(v: &Value) -> (String, String, u64, u64) {
    (
        v["data"].as_str().unwrap_or("").to_owned(),
        v["engine"].as_str().unwrap_or("").to_owned(),
        v["n"].as_u64().unwrap_or(0),
        v["m"].as_u64().unwrap_or(0),
    )
}

fn num(v: &Value) -> String {
    match v {
        Value::Number(n) => {
            let x = n.as_f64().unwrap();
            if x.fract() == 0.0 || x.abs() >= 100.0 {
                format!("{:.0}", x)
            } else if x.abs() >= 1.0 {
                format!("{:.2}", x)
            } else {
                format!("{:.3}", x)
            }
        }
        Value::Null => "–".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn report(path: &str) {
    let text = fs::read_to_string(path).expect("no results yet");
    let mut builds = BTreeMap::new();
    let mut queries = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        match v["phase"].as_str() {
            Some("build") => builds.insert(key(&v), v),
            Some("query") => queries.insert(key(&v), v),
            _ => None,
        };
    }

    println!("### Build, insert, memory, disk\n");
    println!("| data | engine | n | M | build s | build vec/s (per CPU-s) | +10k one-at-a-time vec/s (per CPU-s) | insert+commit each vec/s | RSS growth MiB | disk MiB | removal | load (start→end) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for ((data, engine, n, m), b) in &builds {
        let removal = match &b["removal"] {
            Value::String(s) => s.clone(),
            r => format!("{} /s", num(&r["per_s"])),
        };
        println!(
            "| {data} | {engine} | {n} | {m} | {} | {} ({}) | {} ({}) | {} | {} | {} | {removal} | {} → {} |",
            num(&b["build_s"]),
            num(&b["build_rate_per_s"]),
            num(&b["build_rate_per_cpu_s"]),
            num(&b["incremental_rate_per_s"]),
            num(&b["incremental_rate_per_cpu_s"]),
            num(&b["committed_single_rate_per_s"]),
            num(&b["index_rss_growth_mib"]),
            num(&b["disk_mib"]),
            num(&b["load_before_build"]),
            num(&b["load_after_build"]),
        );
    }

    println!("\n### Open and memory after open\n");
    println!("| data | engine | n | M | open s | mode | full load s | RSS after open + 200 queries MiB (anon / file) | load |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for ((data, engine, n, m), q) in &queries {
        let r = &q["rss_after_open_and_200_queries"];
        println!(
            "| {data} | {engine} | {n} | {m} | {} | {} | {} | {} ({} / {}) | {} |",
            num(&q["open_s"]),
            num(&q["open"]["open_mode"]),
            num(&q["full_load_s"]),
            num(&r["rss_mib"]),
            num(&r["anon_mib"]),
            num(&r["file_mib"]),
            num(&q["load_start"]),
        );
    }

    for (section, title) in [
        ("unfiltered", "Top-10, unfiltered"),
        ("filtered_10pct", "Top-10, domain filter (10 %), the issue's queries (9 in 10 of another domain)"),
        ("filtered_10pct_own_domain", "Top-10, domain filter (10 %), queries of that domain"),
    ] {
        println!("\n### {title} (single thread, one query at a time)\n");
        println!("| data | engine | n | M | ef | p50 µs | p99 µs | q/s | CPU µs/query | recall@10 |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for ((data, engine, n, m), q) in &queries {
            let Some(runs) = q[section].as_object() else { continue };
            let mut runs: Vec<_> = runs.iter().collect();
            runs.sort_by_key(|(ef, _)| ef.trim_start_matches("ef").parse::<usize>().unwrap_or(0));
            for (ef, r) in runs {
                println!(
                    "| {data} | {engine} | {n} | {m} | {} | {} | {} | {} | {} | {} |",
                    ef.trim_start_matches("ef"),
                    num(&r["p50_us"]),
                    num(&r["p99_us"]),
                    num(&r["qps"]),
                    num(&r["cpu_mean_us"]),
                    num(&r["recall"]),
                );
            }
        }
    }
}
