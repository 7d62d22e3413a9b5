//! ANN index candidates for qis's embedded store, measured on qis-sim's vectors.
//!
//! `ann-bench build …` builds an index (2 threads), measures the insert rates and memory, saves
//! it; `ann-bench query …`, in a fresh process, opens it and measures latency and recall.
//! Each prints one JSON line and appends it to `results/runs.jsonl`. See README.md.

mod data;
mod engines;
mod measure;
mod report;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::{json, Map, Value};

use data::{Generator, Kind, Truth, DIM, K};
use engines::Config;
use measure::{cpu_s, disk_usage, loadavg, mib, query_loop, round, rss, rss_mib, secs};

const QUERIES: usize = 500;
const WARMUP: usize = 200;
const INCREMENTAL: usize = 10_000;
/// One-at-a-time inserts each followed by a commit, for engines whose commit links the graph.
const COMMITTED_SINGLES: usize = 100;
const REMOVALS: usize = 100;
const THREADS: usize = 2;

struct Args {
    cmd: String,
    cfg: Config,
    kind: Kind,
    dir: PathBuf,
    efs: Vec<usize>,
    filtered_efs: Vec<usize>,
    filtered_queries: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: ann-bench report [runs.jsonl] | ann-bench build|query --engine E --n N [--data clustered|uniform] [--m 16] \
         [--efc 128] [--ef 32,64,128] [--fef 64,128,256] [--fq 500] [--dir idx/<engine>-<data>-<n>]"
    );
    std::process::exit(2)
}

fn parse() -> Args {
    let mut it = std::env::args().skip(1);
    let cmd = it.next().unwrap_or_else(|| usage());
    let mut kv = Map::new();
    while let Some(k) = it.next() {
        let k = k.strip_prefix("--").unwrap_or_else(|| usage()).to_owned();
        kv.insert(k, Value::String(it.next().unwrap_or_else(|| usage())));
    }
    let get = |k: &str, default: &str| kv.get(k).and_then(Value::as_str).unwrap_or(default).to_owned();
    let list = |s: String| s.split(',').map(|x| x.parse().unwrap()).collect::<Vec<usize>>();
    let engine = get("engine", "");
    if engine.is_empty() {
        usage()
    }
    let n: usize = get("n", "100000").parse().unwrap();
    let kind = Kind::parse(&get("data", "clustered"));
    let m: usize = get("m", "16").parse().unwrap();
    let dir = PathBuf::from(get("dir", &format!("idx/{engine}-m{m}-{}-{n}", kind.name())));
    Args {
        cmd,
        cfg: Config { engine, n, dim: DIM, m, ef_construction: get("efc", "128").parse().unwrap() },
        kind,
        dir,
        efs: list(get("ef", "32,64,128")),
        filtered_efs: list(get("fef", "64,128,256")),
        filtered_queries: get("fq", "500").parse().unwrap(),
    }
}

fn header(args: &Args) -> Map<String, Value> {
    let c = &args.cfg;
    let mut out = Map::new();
    out.insert("phase".into(), json!(args.cmd));
    out.insert("engine".into(), json!(c.engine));
    out.insert("data".into(), json!(args.kind.name()));
    out.insert("n".into(), json!(c.n));
    out.insert("dim".into(), json!(c.dim));
    out.insert("m".into(), json!(c.m));
    out.insert("ef_construction".into(), json!(c.ef_construction));
    out.insert("load_start".into(), json!(loadavg()));
    out
}

fn emit(mut out: Map<String, Value>) {
    out.insert("load_end".into(), json!(loadavg()));
    let line = Value::Object(out).to_string();
    println!("{line}");
    fs::create_dir_all("results").unwrap();
    let mut f = OpenOptions::new().create(true).append(true).open("results/runs.jsonl").unwrap();
    writeln!(f, "{line}").unwrap();
}

fn build(args: &Args) {
    let cfg = &args.cfg;
    let mut out = header(args);
    let gen = Generator::new(args.kind);
    let t = Instant::now();
    let base = gen.packets(0..cfg.n);
    let extra = gen.packets(cfg.n..cfg.n + INCREMENTAL + COMMITTED_SINGLES);
    out.insert("generate_s".into(), json!(secs(t)));
    let truth_dir = PathBuf::from("data");
    if Truth::load(&truth_dir, args.kind, cfg.n, QUERIES).is_none() {
        let t = Instant::now();
        Truth::compute(&base, &gen.queries(QUERIES), &gen.queries_in_domain(QUERIES))
            .save(&truth_dir, args.kind, cfg.n);
        out.insert("truth_s".into(), json!(secs(t)));
    }

    if args.dir.exists() {
        fs::remove_dir_all(&args.dir).unwrap();
    }
    fs::create_dir_all(&args.dir).unwrap();
    let before = rss();
    let mut index = engines::builder(cfg, &args.dir);
    out.insert("load_before_build".into(), json!(loadavg()));
    let t = Instant::now();
    let cpu = cpu_s();
    index.build(&base);
    let build_s = t.elapsed().as_secs_f64();
    let build_cpu_s = cpu_s() - cpu;
    out.insert("build_cpu_s".into(), json!(round(build_cpu_s)));
    out.insert("build_rate_per_cpu_s".into(), json!(round(cfg.n as f64 / build_cpu_s)));
    let after = rss();
    out.insert("build_s".into(), json!(round(build_s)));
    out.insert("build_rate_per_s".into(), json!(round(cfg.n as f64 / build_s)));
    out.insert("load_after_build".into(), json!(loadavg()));
    out.insert("rss_before_build".into(), before.clone());
    out.insert("rss_after_build".into(), after.clone());
    out.insert(
        "index_rss_growth_mib".into(),
        json!(round(rss_mib(&after, "rss_mib") - rss_mib(&before, "rss_mib"))),
    );
    out.insert("notes".into(), index.notes());

    let t = Instant::now();
    index.save();
    out.insert("save_s".into(), json!(secs(t)));
    let (apparent, allocated) = disk_usage(&args.dir);
    out.insert("disk_mib".into(), json!(mib(apparent)));
    out.insert("disk_allocated_mib".into(), json!(mib(allocated)));

    // Incremental inserts into the built index (not saved: queries run on the saved n).
    let t = Instant::now();
    let cpu = cpu_s();
    for (j, v) in extra.chunks_exact(DIM).take(INCREMENTAL).enumerate() {
        index.insert((cfg.n + j) as u64, v);
    }
    let insert_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    index.commit();
    let commit_s = t.elapsed().as_secs_f64();
    out.insert(
        "incremental_rate_per_cpu_s".into(),
        json!(round(INCREMENTAL as f64 / (cpu_s() - cpu))),
    );
    out.insert("incremental_insert_s".into(), json!(round(insert_s)));
    out.insert("incremental_commit_s".into(), json!(round(commit_s)));
    out.insert(
        "incremental_rate_per_s".into(),
        json!(round(INCREMENTAL as f64 / (insert_s + commit_s))),
    );
    if index.commit_per_insert_matters() {
        let t = Instant::now();
        for (j, v) in extra.chunks_exact(DIM).skip(INCREMENTAL).enumerate() {
            index.insert((cfg.n + INCREMENTAL + j) as u64, v);
            index.commit();
        }
        out.insert(
            "committed_single_rate_per_s".into(),
            json!(round(COMMITTED_SINGLES as f64 / t.elapsed().as_secs_f64())),
        );
    }

    let t = Instant::now();
    let removed: Vec<Option<bool>> = (0..REMOVALS as u64).map(|k| index.remove(k * 7)).collect();
    let removal = match removed[0] {
        None => json!("unsupported"),
        Some(_) => json!({
            "removed": removed.iter().filter(|r| **r == Some(true)).count(),
            "asked": REMOVALS,
            "per_s": round(REMOVALS as f64 / t.elapsed().as_secs_f64()),
        }),
    };
    out.insert("removal".into(), removal);
    emit(out);
}

fn query(args: &Args) {
    let cfg = &args.cfg;
    let mut out = header(args);
    let gen = Generator::new(args.kind);
    let queries = gen.queries(QUERIES);
    let in_domain = gen.queries_in_domain(QUERIES);
    let truth = Truth::load(&PathBuf::from("data"), args.kind, cfg.n, QUERIES)
        .expect("no exact results: run `ann-bench build` with this --data and --n first");
    let before = rss();
    let t = Instant::now();
    let (mut index, notes) = engines::open(cfg, &args.dir);
    out.insert("open_s".into(), json!(secs(t)));
    out.insert("open".into(), notes);
    out.insert("rss_before_open".into(), before);
    out.insert("rss_after_open".into(), rss());

    let ef_max = *args.efs.iter().max().unwrap();
    for q in queries.chunks_exact(DIM).take(WARMUP) {
        index.search(q, K, ef_max);
    }
    out.insert("rss_after_open_and_200_queries".into(), rss());

    let mut unfiltered = Map::new();
    for &ef in &args.efs {
        let r = query_loop(&queries, DIM, &truth.all, |q| index.search(q, K, ef));
        unfiltered.insert(format!("ef{ef}"), r);
    }
    out.insert("unfiltered".into(), Value::Object(unfiltered));
    // The domain filter with the queries of the issue (9 in 10 are of another domain: the graph
    // walk must leave the query's cluster), on the first `--fq` of them; then with the queries
    // moved into the filter's domain (the usual case for a store partitioned by domain).
    let fq = args.filtered_queries.min(QUERIES);
    let mut filtered = Map::new();
    let mut own = Map::new();
    for &ef in &args.filtered_efs {
        let r = query_loop(&queries[..fq * DIM], DIM, &truth.filtered[..fq], |q| {
            index.search_filtered(q, K, ef)
        });
        filtered.insert(format!("ef{ef}"), r);
        let r = query_loop(&in_domain, DIM, &truth.own, |q| index.search_filtered(q, K, ef));
        own.insert(format!("ef{ef}"), r);
    }
    out.insert("filtered_queries".into(), json!(fq));
    out.insert("filtered_10pct".into(), Value::Object(filtered));
    out.insert("filtered_10pct_own_domain".into(), Value::Object(own));
    out.insert("rss_after_queries".into(), rss());
    if let Some(s) = index.full_load_s() {
        out.insert("full_load_s".into(), json!(s));
    }
    emit(out);
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("report") {
        let path = std::env::args().nth(2).unwrap_or_else(|| "results/runs.jsonl".into());
        return report::report(&path);
    }
    let args = parse();
    rayon::ThreadPoolBuilder::new().num_threads(THREADS).build_global().unwrap();
    match args.cmd.as_str() {
        "build" => build(&args),
        "query" => query(&args),
        _ => usage(),
    }
}
