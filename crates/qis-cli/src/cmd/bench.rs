//! `qis bench`: measure the embedded store at scale on this machine (or, with `--router URL`,
//! any router's deposit and query rates).
//!
//! Random unit vectors (the worst case for vector search: no clusters) on packet-like metadata.
//! Deposits go in batches; exact-address queries ask for 50 packets; vector queries ask for the top
//! 10 under a filter, and their recall@10 is measured against exact search in the same run.

use std::time::Instant;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use qis::packet::{Address, Outcome, Packet, now_ms};
use qis::router::embedded::{EmbeddedOptions, EmbeddedRouter};
use qis::router::memory::MemoryRouter;
use qis::router::{Filter, Query, Routed, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use crate::config::Global;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many packets to deposit.
    #[arg(long, default_value_t = 100_000)]
    packets: usize,
    /// Vector dimension.
    #[arg(long, default_value_t = 384)]
    dim: usize,
    /// Packets per deposit batch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// How many queries of each kind.
    #[arg(long, default_value_t = 500)]
    queries: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the results as JSON too.
    #[arg(long)]
    json: bool,
}

const DOMAINS: usize = 10;
const ADDRESSES: usize = 2_000;

fn unit(rng: &mut StdRng, dim: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..dim).map(|_| StandardNormal.sample(rng)).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

fn resident_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn progress(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} [{{bar:40}}] {{pos}}/{{len}} ({{per_sec}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// `queries` exact-address queries (limit 50) over the bench's addresses: (queries/s, packets
/// per answer).
async fn exact_queries(
    store: &EmbeddedRouter,
    addresses: &[Address],
    queries: usize,
) -> Result<(f64, f64)> {
    let start = Instant::now();
    let mut returned = 0;
    for i in 0..queries {
        let q = Query::exact(addresses[(i * 7919) % addresses.len()]).limit(50);
        returned += store.query(&q).await?.len();
    }
    let secs = start.elapsed().as_secs_f64();
    Ok((queries as f64 / secs, returned as f64 / queries as f64))
}

/// Builds packet `i` of the bench (the same for every router).
fn bench_packet(
    rng: &mut StdRng,
    i: usize,
    total: usize,
    now: u64,
    addresses: &[Address],
    dim: usize,
) -> Result<Routed> {
    let packet = Packet::builder(
        format!("agent-{}", i % 5_000),
        format!("domain-{}", i % DOMAINS),
        addresses[i % addresses.len()],
    )
    .outcome(Outcome::ALL[i % 3])
    .confidence(rng.random_range(0.0..1.0))
    .result("effect", rng.random_range(0.0..2.0))
    .result(
        "protocol",
        if i.is_multiple_of(2) {
            "weekly"
        } else {
            "daily"
        },
    )
    .tag(format!("tag-{}", i % 7))
    .summary("benchmark packet")
    .created(now - (total - i) as u64)
    .build()?;
    Ok(Routed::with_vector(packet, &unit(rng, dim))?)
}

/// `qis --router URL bench`: deposit and query rates of any router, recall against exact search.
/// The packets go into the router's network: use a network of their own.
async fn run_router(global: &Global, args: Args) -> Result<()> {
    let file = global.file()?;
    let spec = global.router_spec(&file)?;
    let router = crate::store::open_router(&spec).await?.router;
    let mut rng = StdRng::seed_from_u64(args.seed);
    // Addresses of this run only, so that a network used before does not change the answers.
    let run: u64 = rand::random();
    let addresses: Vec<Address> = (0..ADDRESSES)
        .map(|i| {
            Address::from_bytes(&[run.to_be_bytes(), (i as u64).to_be_bytes()].concat())
                .expect("16 bytes")
        })
        .collect();
    let truth = MemoryRouter::new();
    let now = now_ms();
    let (mut deposit_secs, mut made) = (0.0, 0);
    let bar = progress(args.packets, "depositing");
    while made < args.packets {
        let n = args.batch.min(args.packets - made);
        let batch: Vec<Routed> = (made..made + n)
            .map(|i| bench_packet(&mut rng, i, args.packets, now, &addresses, args.dim))
            .collect::<Result<_>>()?;
        let start = Instant::now();
        router.deposit(&batch).await?;
        deposit_secs += start.elapsed().as_secs_f64();
        truth.deposit(&batch).await?;
        made += n;
        bar.set_position(made as u64);
    }
    bar.finish_and_clear();
    let exact_n = args.queries;
    let start = Instant::now();
    let mut returned = 0;
    for i in 0..exact_n {
        let q = Query::exact(addresses[(i * 7919) % addresses.len()]).limit(50);
        returned += router.query(&q).await?.len();
    }
    let exact_rate = exact_n as f64 / start.elapsed().as_secs_f64();
    let domain = Filter {
        domain: Some("domain-3".into()),
        ..Filter::default()
    };
    let (mut found, mut total) = (0usize, 0usize);
    let mut vector_secs = 0.0;
    for _ in 0..args.queries {
        let q = Query::nearest(&unit(&mut rng, args.dim), 10)?.filter(domain.clone());
        let start = Instant::now();
        let got = router.query(&q).await?;
        vector_secs += start.elapsed().as_secs_f64();
        let want = truth.query(&q).await?;
        total += want.len();
        found += got
            .iter()
            .filter(|h| want.iter().any(|w| w.packet.id() == h.packet.id()))
            .count();
    }
    let deposit_rate = args.packets as f64 / deposit_secs;
    let vector_rate = args.queries as f64 / vector_secs;
    let recall = found as f64 / total.max(1) as f64;
    println!(
        "qis bench: the {} router, {} packets × {}-d random unit vectors (seed {})",
        spec.backend(),
        args.packets,
        args.dim,
        args.seed
    );
    println!("| operation | rate | notes |");
    println!("|---|---|---|");
    println!(
        "| deposit (batches of {}) | {deposit_rate:.0} packets/s | acknowledged by the engine |",
        args.batch
    );
    println!(
        "| exact-address query, limit 50 | {exact_rate:.0} queries/s | {:.1} packets per answer, {ADDRESSES} addresses |",
        returned as f64 / exact_n as f64
    );
    println!(
        "| vector top-10, domain (10 %) | {vector_rate:.0} queries/s | recall@10 {recall:.3} against exact search |"
    );
    if args.json {
        println!(
            "{}",
            serde_json::json!({"router": spec.backend(), "packets": args.packets, "dim": args.dim,
                               "deposit_per_sec": deposit_rate, "exact_query_per_sec": exact_rate,
                               "vector_query_per_sec": vector_rate, "recall_at_10": recall})
        );
    }
    Ok(())
}

pub async fn run(global: &Global, args: Args) -> Result<()> {
    if global.router.is_some() {
        return run_router(global, args).await;
    }
    let mut rng = StdRng::seed_from_u64(args.seed);
    let dir = tempfile::tempdir()?;
    let options = EmbeddedOptions::default().purge_interval(None);
    let store = EmbeddedRouter::open_with(dir.path(), options.clone()).await?;
    let addresses: Vec<Address> = (0..ADDRESSES)
        .map(|i| Address::from_bytes(&(i as u64).to_be_bytes()).expect("8 bytes"))
        .collect();
    let rss_before = resident_mb();

    let now = now_ms();
    let mut deposit_secs = 0.0;
    let bar = progress(args.packets, "depositing");
    let mut made = 0;
    while made < args.packets {
        let n = args.batch.min(args.packets - made);
        let batch: Vec<Routed> = (made..made + n)
            .map(|i| bench_packet(&mut rng, i, args.packets, now, &addresses, args.dim))
            .collect::<Result<_>>()?;
        let start = Instant::now();
        store.deposit(&batch).await?;
        deposit_secs += start.elapsed().as_secs_f64();
        made += n;
        bar.set_position(made as u64);
    }
    bar.finish_and_clear();
    let rss_after = resident_mb();

    // Exact-address queries, limit 50, on the store that took the deposits: a first pass over
    // every address, then the measured pass (addresses read again, as a busy node's are).
    let exact_n = args.queries * 10;
    let (first_rate, _) = exact_queries(&store, &addresses, ADDRESSES).await?;
    let (exact_rate, per_answer) = exact_queries(&store, &addresses, exact_n).await?;

    // The ground truth: every stored packet in the memory router, which searches exactly.
    let truth = MemoryRouter::new();
    let mut cursor = 0;
    loop {
        let (page, next) = store.scan(cursor, 10_000).await?;
        truth.deposit(&page).await?;
        match next {
            Some(c) => cursor = c,
            None => break,
        }
    }

    // Vector queries: unfiltered, and filtered (one domain of ten, confidence ≥ 0.5: ~5 %).
    let filters = [
        ("top-10, no filter", Filter::default()),
        (
            "top-10, domain (10 %)",
            Filter {
                domain: Some("domain-3".into()),
                ..Filter::default()
            },
        ),
        (
            "top-10, domain + confidence ≥ 0.5 (5 %)",
            Filter {
                domain: Some("domain-3".into()),
                min_confidence: Some(0.5),
                ..Filter::default()
            },
        ),
    ];
    let mut vector_rows = Vec::new();
    for (name, filter) in filters {
        let queries: Vec<Query> = (0..args.queries)
            .map(|_| {
                Query::nearest(&unit(&mut rng, args.dim), 10).map(|q| q.filter(filter.clone()))
            })
            .collect::<Result<_, _>>()?;
        let start = Instant::now();
        let mut answers = Vec::with_capacity(queries.len());
        for q in &queries {
            answers.push(store.query(q).await?);
        }
        let secs = start.elapsed().as_secs_f64();
        let (mut found, mut total) = (0usize, 0usize);
        for (q, got) in queries.iter().zip(&answers) {
            let want = truth.query(q).await?;
            total += want.len();
            found += got
                .iter()
                .filter(|h| want.iter().any(|w| w.packet.id() == h.packet.id()))
                .count();
        }
        vector_rows.push((
            name,
            queries.len() as f64 / secs,
            found as f64 / total.max(1) as f64,
        ));
    }
    drop(truth);

    // Restart: reopen the directory (the vector index is rebuilt from SQLite), then the same
    // exact queries on a cold packet cache.
    drop(store);
    let start = Instant::now();
    let store = EmbeddedRouter::open_with(dir.path(), options).await?;
    let open_secs = start.elapsed().as_secs_f64();
    let (cold_rate, _) = exact_queries(&store, &addresses, exact_n).await?;

    let deposit_rate = args.packets as f64 / deposit_secs;
    println!(
        "qis bench: embedded store, {} packets × {}-d random unit vectors (seed {})",
        args.packets, args.dim, args.seed
    );
    println!("| operation | rate | notes |");
    println!("|---|---|---|");
    println!(
        "| deposit (batches of {}) | {:.0} packets/s | durable: one fsync'd transaction per batch |",
        args.batch, deposit_rate
    );
    println!(
        "| exact-address query, limit 50 | {exact_rate:.0} queries/s | {per_answer:.1} packets per answer, {ADDRESSES} addresses, each read before |"
    );
    println!(
        "| exact-address query, first read of each address | {first_rate:.0} queries/s | packets cached as deposited |"
    );
    for (name, rate, recall) in &vector_rows {
        println!(
            "| vector {name} | {rate:.0} queries/s | recall@10 {recall:.3} against exact search |"
        );
    }
    println!(
        "| reopen (vector index rebuilt from SQLite) | {open_secs:.2} s | {} packets |",
        args.packets
    );
    println!(
        "| exact-address query after reopening | {cold_rate:.0} queries/s | first reads: packets decoded from SQLite |"
    );
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        println!(
            "resident memory: {after:.0} MB after the deposits ({:.0} MB for the store: vectors, int8 codes, decoded packets)",
            after - before
        );
    }
    if args.json {
        let rows: Vec<_> = vector_rows
            .iter()
            .map(|(n, r, rc)| serde_json::json!({"query": n, "per_sec": r, "recall_at_10": rc}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"packets": args.packets, "dim": args.dim, "deposit_per_sec": deposit_rate,
                               "exact_query_per_sec": exact_rate, "vector": rows,
                               "exact_query_first_per_sec": first_rate, "reopen_secs": open_secs, "exact_query_cold_per_sec": cold_rate,
                               "rss_mb": rss_after})
        );
    }
    Ok(())
}
