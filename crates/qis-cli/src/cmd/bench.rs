//! `qis bench`: measure a store at scale on this machine: the embedded store by default, or with
//! `--router URL` any router, and with `--against URL` a second one on the same packets and
//! queries in the same run.
//!
//! Packets carry vectors from [`qis_sim::workload`]: clustered as text embeddings of problems are
//! (the default), uniform on the sphere (the worst case for an approximate index), or the
//! embeddings of generated problem texts by a real embedder (`--vectors texts`). Deposits go in
//! batches; exact-address queries ask for the 50 newest packets of an address; vector queries ask
//! for the top 10 under three filters, and their recall@10 is measured against an exact search
//! done by the bench itself while the packets are made. Every row has its rate, p50 and p99.
//!
//! With several sizes (`--packets 10000,100000,1000000`), each size runs in a process of its own
//! (so that one size's memory does not count in the next), and the curve is printed as a table
//! and, with `--plot`, drawn.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use qis::embed::{Embedder, EmbedderSpec};
use qis::packet::{Address, Outcome, Packet, PacketId, now_ms};
use qis::router::embedded::{EmbeddedOptions, EmbeddedRouter};
use qis::router::url::RouterSpec;
use qis::router::{Filter, Hits, Query, Routed, Router};
use qis_sim::plot::{Line, LogLogChart, draw_log_log};
use qis_sim::workload::{self, Clustered, DOMAINS};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::Global;
use crate::store::EmbedderKind;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// How many packets to deposit. Several, comma-separated (10000,100000,1000000), measure each
    /// size in a process of its own and print how the costs grow.
    #[arg(long, value_delimiter = ',', default_value = "100000")]
    packets: Vec<usize>,
    /// Vector dimension (for --vectors texts, the embedder's).
    #[arg(long, default_value_t = 384)]
    dim: usize,
    /// Packets per deposit batch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// How many vector queries of each kind (exact-address queries: ten times as many).
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Random seed: the same seed gives the same packets and queries.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The packets' vectors: clustered as MiniLM embeddings of problem texts are; uniform on the
    /// sphere (no clusters: the worst case for an approximate index); or texts, generated problem
    /// texts embedded by --embedder.
    #[arg(long, value_enum, default_value_t = VectorKind::Clustered)]
    vectors: VectorKind,
    /// The embedder of --vectors texts.
    #[arg(long, value_enum, default_value_t = EmbedderKind::Minilm)]
    embedder: EmbedderKind,
    /// Also measure this router on the same packets and queries, after the first, in this run
    /// (for example qdrant://127.0.0.1:6334/bench).
    #[arg(long, value_name = "URL")]
    against: Option<String>,
    /// The embedded store's `exact_below`: a domain with more vectors is partitioned and
    /// searched in its nearest lists (default: the store's own, 4,096). Lower it to measure the
    /// partitioned search on a small store as it runs on a large one.
    #[arg(long, value_name = "N")]
    exact_below: Option<usize>,
    /// With several --packets: draw the curve (rates, p99 and memory against the store's size)
    /// into this SVG file.
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// Print the results as JSON too.
    #[arg(long)]
    json: bool,
    /// Print only the JSON report (how a run of several sizes reads each size's process).
    #[arg(long, hide = true)]
    report_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum VectorKind {
    Clustered,
    Uniform,
    Texts,
}

impl std::fmt::Display for VectorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VectorKind::Clustered => "clustered (MiniLM-like)",
            VectorKind::Uniform => "uniform random unit",
            VectorKind::Texts => "embedded problem-text",
        })
    }
}

/// Addresses (problem topics) in the bench: `DOMAINS` domains of `ADDRESSES / DOMAINS` topics.
const ADDRESSES: usize = 2_000;
/// Queries ask for this many nearest packets.
const K: usize = 10;
/// Query variants are numbered from here, so that no query is a stored packet's own vector.
const QUERY_VARIANTS: u64 = 1 << 40;

/// Where the packets' vectors come from.
enum Source {
    Clustered(Clustered),
    Uniform,
    Texts(Arc<dyn Embedder>),
}

/// The packets and queries of a run: each a function of the seed and its number.
struct Workload {
    seed: u64,
    dim: usize,
    total: usize,
    now: u64,
    source: Source,
    addresses: Vec<Address>,
}

/// Address `a` stands for topic `a / DOMAINS` of domain `a % DOMAINS`.
fn topic_of(address: usize) -> (usize, usize) {
    (address % DOMAINS, address / DOMAINS)
}

impl Workload {
    fn new(args: &Args, total: usize) -> Result<Self> {
        let (source, dim) = match args.vectors {
            VectorKind::Clustered => (
                Source::Clustered(Clustered::new(args.dim, args.seed)),
                args.dim,
            ),
            VectorKind::Uniform => (Source::Uniform, args.dim),
            VectorKind::Texts => {
                let embedder = EmbedderSpec::from(args.embedder)
                    .open()
                    .context("--vectors texts needs its embedder")?;
                let dim = embedder.dimension();
                (Source::Texts(embedder), dim)
            }
        };
        Ok(Workload {
            seed: args.seed,
            dim,
            total,
            now: now_ms(),
            source,
            addresses: (0..ADDRESSES)
                .map(|i| Address::from_bytes(&(i as u64).to_be_bytes()).expect("8 bytes"))
                .collect(),
        })
    }

    /// The vectors of (domain, topic, variant) triples, in order.
    fn vectors(&self, items: &[(usize, usize, u64)]) -> Result<Vec<Vec<f32>>> {
        Ok(match &self.source {
            Source::Clustered(c) => items
                .par_iter()
                .map(|&(d, t, v)| c.vector(d, t, v))
                .collect(),
            Source::Uniform => items
                .par_iter()
                .map(|&(d, t, v)| workload::uniform_for(self.seed, d, t, v, self.dim))
                .collect(),
            Source::Texts(embedder) => {
                let texts: Vec<String> = items
                    .iter()
                    .map(|&(d, t, v)| workload::problem_text(self.seed, d, t, v))
                    .collect();
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                embedder.embed_batch(&refs)?
            }
        })
    }

    /// Packets `range` of the run, with their vectors.
    fn packets(&self, range: std::ops::Range<usize>) -> Result<Vec<Routed>> {
        let items: Vec<(usize, usize, u64)> = range
            .clone()
            .map(|i| {
                let (d, t) = topic_of(i % ADDRESSES);
                (d, t, (i / ADDRESSES) as u64)
            })
            .collect();
        let vectors = self.vectors(&items)?;
        range
            .zip(vectors)
            .map(|(i, v)| {
                let mut rng = StdRng::seed_from_u64(self.seed.wrapping_add(i as u64));
                let a = i % ADDRESSES;
                let (d, _) = topic_of(a);
                let confidence = rng.random_range(0.0..1.0);
                let effect = rng.random_range(0.0..2.0);
                let created = self.now - (self.total - i) as u64;
                // The same packets, ids included, for every router of the run: recall compares
                // ids.
                let id =
                    uuid::Builder::from_unix_timestamp_millis(created, &rng.random()).into_uuid();
                let packet = Packet::builder(
                    format!("agent-{}", i % 5_000),
                    workload::domain_name(d),
                    self.addresses[a],
                )
                .id(PacketId::from_uuid(id)?)
                .outcome(Outcome::ALL[i % 3])
                .confidence(confidence)
                .result("effect", effect)
                .result("protocol", if i % 2 == 0 { "weekly" } else { "daily" })
                .tag(format!("tag-{}", i % 7))
                .summary("benchmark packet")
                .created(created)
                .build()?;
                Ok(Routed::with_vector(packet, &v)?)
            })
            .collect()
    }

    /// `n` query vectors: new variants of the stored topics (a peer meeting a known kind of
    /// problem), or uniform vectors for uniform packets.
    fn queries(&self, n: usize, salt: u64) -> Result<Vec<Vec<f32>>> {
        let items: Vec<(usize, usize, u64)> = (0..n)
            .map(|q| {
                let a = (q * 7_919 + salt as usize * 104_729) % ADDRESSES;
                let (d, t) = topic_of(a);
                (d, t, QUERY_VARIANTS + salt * n as u64 + q as u64)
            })
            .collect();
        self.vectors(&items)
    }
}

/// The filters vector queries run under, by name.
fn filters() -> Vec<(&'static str, Filter)> {
    let domain = Some(workload::domain_name(3).to_owned());
    vec![
        ("vector top-10, no filter", Filter::default()),
        (
            "vector top-10, domain (10 %)",
            Filter {
                domain: domain.clone(),
                ..Filter::default()
            },
        ),
        (
            "vector top-10, domain + confidence ≥ 0.5 (5 %)",
            Filter {
                domain,
                min_confidence: Some(0.5),
                ..Filter::default()
            },
        ),
    ]
}

/// One query's exact answer, kept while the packets are made: the best `K` scores and who has
/// them.
#[derive(Clone, Default)]
struct Best {
    /// (score, packet id), best first; at most `K`, plus any tied with the `K`th.
    hits: Vec<(f32, qis::packet::PacketId)>,
}

impl Best {
    fn offer(&mut self, score: f32, id: qis::packet::PacketId) {
        if self.hits.len() >= K && score < self.hits[K - 1].0 - TIE {
            return;
        }
        let at = self.hits.partition_point(|h| h.0 >= score);
        self.hits.insert(at, (score, id));
        if self.hits.len() > K {
            let kth = self.hits[K - 1].0;
            self.hits.retain(|h| h.0 >= kth - TIE);
        }
    }

    /// How many of the `K` true answers `got` found (an answer tied with the `K`th counts).
    fn found(&self, got: &Hits) -> (usize, usize) {
        let want = self.hits.len().min(K);
        let found = got
            .iter()
            .filter(|h| self.hits.iter().any(|w| w.1 == h.packet.id()))
            .count();
        (found.min(want), want)
    }
}

/// Scores closer than this are ties (the same vector deposited twice, or f32 rounding).
const TIE: f32 = 1e-6;

/// The exact answers of every vector query, built batch by batch.
struct Truth {
    queries: Vec<Vec<Vec<f32>>>,
    filters: Vec<Filter>,
    best: Vec<Vec<Best>>,
    now: u64,
}

impl Truth {
    fn new(queries: Vec<Vec<Vec<f32>>>, filters: Vec<Filter>) -> Self {
        let best = queries
            .iter()
            .map(|q| vec![Best::default(); q.len()])
            .collect();
        Truth {
            queries,
            filters,
            best,
            now: now_ms() + 3_600_000,
        }
    }

    fn add(&mut self, batch: &[Routed]) {
        let now = self.now;
        for ((queries, best), filter) in self.queries.iter().zip(&mut self.best).zip(&self.filters)
        {
            let passing: Vec<&Routed> = batch
                .iter()
                .filter(|r| filter.matches(&r.packet, now))
                .collect();
            queries
                .par_iter()
                .zip(best.par_iter_mut())
                .for_each(|(q, best)| {
                    for r in &passing {
                        if let Some(v) = &r.vector {
                            best.offer(qis::vector::dot(q, v), r.packet.id());
                        }
                    }
                });
        }
    }
}

/// One measured operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Row {
    op: String,
    /// Operations (or packets, for deposits) per second.
    rate: f64,
    unit: String,
    p50_ms: f64,
    p99_ms: f64,
    recall: Option<f64>,
    note: String,
}

/// What one run measured on one router.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Report {
    router: String,
    packets: usize,
    dim: usize,
    vectors: VectorKind,
    seed: u64,
    /// Where the embedded store ran.
    dir: Option<String>,
    rows: Vec<Row>,
    /// Seconds to reopen the embedded store.
    reopen_secs: Option<f64>,
    /// Seconds the embedded store's vector search took to be partitioned after the last
    /// deposit, and after reopening (it runs in the background; queries are measured after).
    #[serde(default)]
    indexed_secs: Option<(f64, f64)>,
    /// Seconds another engine (Qdrant) took to finish indexing in the background after the
    /// last deposit: its queries are measured after, on its index.
    #[serde(default)]
    engine_indexed_secs: Option<f64>,
    /// Domains holding vectors, partitioned, and declined (searched whole for want of
    /// clusters), after the deposits and after reopening.
    #[serde(default)]
    partitioned: Option<[(usize, usize, usize); 2]>,
    /// Resident memory after the deposits, and after reopening and querying (MB).
    rss_after_deposits_mb: Option<f64>,
    rss_after_reopen_mb: Option<f64>,
    /// Mean cosines of the vectors: variants of one topic, topics of one domain, two domains,
    /// and a query's nearest stored packet.
    profile: Option<Profile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Profile {
    same_topic: f64,
    same_domain: f64,
    other_domain: f64,
    nearest: f64,
}

/// Hands the memory the first store freed back to the system, so that the resident memory
/// measured after reopening is the reopened store's, as in a process started afresh, and not
/// also the allocator's free lists.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the system.
    unsafe {
        libc::malloc_trim(0);
    }
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
            "{what} [{{bar:40}}] {{pos}}/{{len}} ({{per_sec}}, {{eta}} left)"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// p50 and p99 of `latencies` (seconds), in milliseconds.
fn percentiles(latencies: &mut [f64]) -> (f64, f64) {
    if latencies.is_empty() {
        return (0.0, 0.0);
    }
    latencies.sort_by(f64::total_cmp);
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize] * 1e3;
    (at(0.50), at(0.99))
}

fn row(op: &str, unit: &str, count: usize, latencies: &mut [f64], note: String) -> Row {
    let secs: f64 = latencies.iter().sum();
    let (p50_ms, p99_ms) = percentiles(latencies);
    Row {
        op: op.to_owned(),
        rate: count as f64 / secs.max(f64::MIN_POSITIVE),
        unit: unit.to_owned(),
        p50_ms,
        p99_ms,
        recall: None,
        note,
    }
}

/// Deposits every packet of `work` into `router` in batches: the deposit row, and the truth
/// when one is being built.
async fn deposit_all(
    router: &dyn Router,
    work: &Workload,
    batch: usize,
    mut truth: Option<&mut Truth>,
) -> Result<Row> {
    let bar = progress(work.total, "depositing");
    let mut latencies = Vec::with_capacity(work.total / batch.max(1) + 1);
    let mut made = 0;
    while made < work.total {
        let n = batch.max(1).min(work.total - made);
        let packets = work.packets(made..made + n)?;
        let start = Instant::now();
        router.deposit(&packets).await?;
        latencies.push(start.elapsed().as_secs_f64());
        if let Some(truth) = truth.as_deref_mut() {
            truth.add(&packets);
        }
        made += n;
        bar.set_position(made as u64);
    }
    bar.finish_and_clear();
    let note = if router.capabilities().durable {
        "latency per batch; durable (synced) before acknowledged"
    } else {
        "latency per batch; acknowledged by the router"
    };
    let r = row(
        &format!("deposit, batches of {batch}"),
        "packets/s",
        work.total,
        &mut latencies,
        note.into(),
    );
    Ok(r)
}

/// `n` exact-address queries, limit 50, over the bench's addresses from `first`.
async fn exact_queries(
    router: &dyn Router,
    work: &Workload,
    n: usize,
    first: usize,
    op: &str,
    note: &str,
) -> Result<Row> {
    let mut latencies = Vec::with_capacity(n);
    let mut returned = 0;
    for i in 0..n {
        let q = Query::exact(work.addresses[(first + i * 7_919) % ADDRESSES]).limit(50);
        let start = Instant::now();
        returned += router.query(&q).await?.len();
        latencies.push(start.elapsed().as_secs_f64());
    }
    let per_answer = returned as f64 / n.max(1) as f64;
    Ok(row(
        op,
        "q/s",
        n,
        &mut latencies,
        format!("{per_answer:.1} packets per answer; {note}"),
    ))
}

/// Every vector query under every filter: a row each, with recall against `truth`.
async fn vector_queries(router: &dyn Router, truth: &Truth, suffix: &str) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (((name, filter), queries), best) in
        filters().into_iter().zip(&truth.queries).zip(&truth.best)
    {
        let mut latencies = Vec::with_capacity(queries.len());
        let (mut found, mut want) = (0, 0);
        for (q, best) in queries.iter().zip(best) {
            let query = Query::nearest(q, K)?.filter(filter.clone());
            let start = Instant::now();
            let got = router.query(&query).await?;
            latencies.push(start.elapsed().as_secs_f64());
            let (f, w) = best.found(&got);
            found += f;
            want += w;
        }
        let mut r = row(
            &format!("{name}{suffix}"),
            "q/s",
            queries.len(),
            &mut latencies,
            "one query at a time".into(),
        );
        r.recall = Some(found as f64 / want.max(1) as f64);
        rows.push(r);
    }
    Ok(rows)
}

/// The mean cosines of a sample of the run's vectors, and of each query's nearest packet.
fn profile(work: &Workload, truth: &Truth) -> Result<Profile> {
    let n = work.total.min(3 * ADDRESSES);
    let sample = work.packets(0..n)?;
    let (mut sums, mut counts) = ([0f64; 3], [0usize; 3]);
    for (i, a) in sample.iter().enumerate() {
        for (j, b) in sample.iter().enumerate().skip(i + 1) {
            let (Some(va), Some(vb)) = (&a.vector, &b.vector) else {
                continue;
            };
            let class = if i % ADDRESSES == j % ADDRESSES {
                0
            } else if i % DOMAINS == j % DOMAINS {
                1
            } else {
                2
            };
            sums[class] += qis::vector::dot(va, vb) as f64;
            counts[class] += 1;
        }
    }
    let mean = |c: usize| sums[c] / counts[c].max(1) as f64;
    let nearest: Vec<f64> = truth.best[0]
        .iter()
        .filter_map(|b| b.hits.first().map(|h| h.0 as f64))
        .collect();
    Ok(Profile {
        same_topic: mean(0),
        same_domain: mean(1),
        other_domain: mean(2),
        nearest: nearest.iter().sum::<f64>() / nearest.len().max(1) as f64,
    })
}

/// Where the embedded store of the run lives: a new directory inside `--data` when it is given
/// (so that the disk measured is the user's), else in the system's temporary directory. Removed
/// when the run ends.
fn bench_dir(global: &Global) -> Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("qis-bench-");
    Ok(match &global.data {
        Some(data) => {
            std::fs::create_dir_all(data)
                .with_context(|| format!("cannot create {}", data.display()))?;
            builder
                .tempdir_in(data)
                .with_context(|| format!("cannot make a directory in {}", data.display()))?
        }
        None => builder.tempdir()?,
    })
}

/// The queries of a run on a router that holds its packets: exact-address queries (first reads,
/// then reads again) and vector queries.
async fn run_queries(
    router: &dyn Router,
    work: &Workload,
    args: &Args,
    truth: &Truth,
) -> Result<Vec<Row>> {
    let mut rows = vec![
        exact_queries(
            router,
            work,
            ADDRESSES,
            0,
            "exact-address query, limit 50, first read",
            "each address read once",
        )
        .await?,
        exact_queries(
            router,
            work,
            args.queries * 10,
            1,
            "exact-address query, limit 50",
            "addresses read before, as a busy node's are",
        )
        .await?,
    ];
    rows.extend(vector_queries(router, truth, "").await?);
    Ok(rows)
}

/// A router other than the embedded store (`--router`, `--against`), opened once, with what the
/// bench needs to wait for an engine that indexes in the background after it has acknowledged
/// the deposits (Qdrant: its optimizer builds the HNSW graph).
struct Other {
    router: Arc<dyn Router>,
    #[cfg(feature = "qdrant")]
    qdrant: Option<Arc<qis::router::layer::Deadline<qis::router::qdrant::QdrantRouter>>>,
}

impl Other {
    async fn open(spec: &RouterSpec) -> Result<Self> {
        #[cfg(feature = "qdrant")]
        if let RouterSpec::Qdrant(config) = spec {
            let qdrant = Arc::new(
                qis::router::qdrant::QdrantRouter::connect(config.clone())
                    .await
                    .context("cannot open the qdrant router")?,
            );
            return Ok(Other {
                router: qdrant.clone(),
                qdrant: Some(qdrant),
            });
        }
        Ok(Other {
            router: crate::store::open_router(spec).await?.router,
            #[cfg(feature = "qdrant")]
            qdrant: None,
        })
    }

    /// Waits until the engine has finished indexing, so that its queries are measured on its
    /// index and not while it is still building it: the seconds it took. `None` for routers that
    /// index as they store.
    async fn wait_indexed(&self) -> Result<Option<f64>> {
        #[cfg(feature = "qdrant")]
        if let Some(qdrant) = &self.qdrant {
            let start = Instant::now();
            let bar =
                ProgressBar::new_spinner().with_message("waiting for Qdrant to finish indexing");
            loop {
                bar.tick();
                // Green once the optimizer is done; grey if it waits for a signal (none comes).
                match qdrant.status().await?.as_str() {
                    "green" | "grey" => break,
                    "red" => bail!("Qdrant reports its collection red (an optimization failed)"),
                    _ => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
                }
            }
            bar.finish_and_clear();
            return Ok(Some(start.elapsed().as_secs_f64()));
        }
        Ok(None)
    }

    /// Deposits the run's packets (adding them to `truth` when it is given, for the first router
    /// of the run), waits for the engine's indexing, then runs every query: `report`'s rows.
    async fn measure(
        &self,
        report: &mut Report,
        work: &Workload,
        args: &Args,
        truth: &mut Truth,
        build_truth: bool,
    ) -> Result<()> {
        let router = self.router.as_ref();
        let deposits = deposit_all(router, work, args.batch, build_truth.then_some(&mut *truth));
        report.rows = vec![deposits.await?];
        report.engine_indexed_secs = self.wait_indexed().await?;
        report
            .rows
            .extend(run_queries(router, work, args, truth).await?);
        Ok(())
    }
}

/// One size on the embedded store (or `--router`), then `--against`.
async fn run_one(global: &Global, args: &Args, total: usize) -> Result<Vec<Report>> {
    let work = Workload::new(args, total)?;
    let filters = filters();
    let queries = (0..filters.len())
        .map(|f| work.queries(args.queries, f as u64))
        .collect::<Result<Vec<_>>>()?;
    let mut truth = Truth::new(queries, filters.into_iter().map(|f| f.1).collect());
    let mut reports = Vec::new();
    let base = |router: String, dir: Option<String>| Report {
        router,
        packets: total,
        dim: work.dim,
        vectors: args.vectors,
        seed: args.seed,
        dir,
        rows: Vec::new(),
        reopen_secs: None,
        indexed_secs: None,
        engine_indexed_secs: None,
        partitioned: None,
        rss_after_deposits_mb: None,
        rss_after_reopen_mb: None,
        profile: None,
    };

    if let Some(url) = &global.router {
        let spec = global.router_spec(&global.file()?)?;
        let mut report = base(url.clone(), None);
        Other::open(&spec)
            .await?
            .measure(&mut report, &work, args, &mut truth, true)
            .await?;
        reports.push(report);
    } else {
        let dir = bench_dir(global)?;
        let mut options = EmbeddedOptions::default().purge_interval(None);
        if let Some(n) = args.exact_below {
            options = options.exact_below(n);
        }
        let rss_before = resident_mb();
        let store = EmbeddedRouter::open_with(dir.path(), options.clone()).await?;
        let mut report = base("embedded".into(), Some(dir.path().display().to_string()));
        let mut rows = vec![deposit_all(&store, &work, args.batch, Some(&mut truth)).await?];
        let start = Instant::now();
        store.wait_indexed().await?;
        let indexed = start.elapsed().as_secs_f64();
        let index = |i: qis::router::embedded::VectorIndex| (i.domains, i.partitioned, i.declined);
        let first_index = index(store.vector_index());
        report.rss_after_deposits_mb = resident_mb().zip(rss_before).map(|(a, b)| a - b);
        rows.extend(run_queries(&store, &work, args, &truth).await?);
        // Restart: reopen the directory, then the same queries on cold caches.
        drop(store);
        release_freed_memory();
        let start = Instant::now();
        let store = EmbeddedRouter::open_with(dir.path(), options).await?;
        report.reopen_secs = Some(start.elapsed().as_secs_f64());
        store.wait_indexed().await?;
        report.indexed_secs = Some((indexed, start.elapsed().as_secs_f64()));
        report.partitioned = Some([first_index, index(store.vector_index())]);
        rows.push(
            exact_queries(
                &store,
                &work,
                args.queries * 10,
                2,
                "exact-address query, limit 50, after reopening",
                "packets read from SQLite again",
            )
            .await?,
        );
        rows.extend(vector_queries(&store, &truth, ", after reopening").await?);
        report.rss_after_reopen_mb = resident_mb().zip(rss_before).map(|(a, b)| a - b);
        drop(store);
        report.rows = rows;
        report.profile = Some(profile(&work, &truth)?);
        reports.push(report);
    }

    if let Some(url) = &args.against {
        let spec: RouterSpec =
            qis::router::url::parse_url(url).with_context(|| format!("--against {url:?}"))?;
        let mut report = base(url.clone(), None);
        Other::open(&spec)
            .await?
            .measure(&mut report, &work, args, &mut truth, false)
            .await?;
        reports.push(report);
    }
    Ok(reports)
}

fn print_report(r: &Report) {
    println!(
        "qis bench: {} router, {} packets × {}-d {} vectors (seed {})",
        r.router, r.packets, r.dim, r.vectors, r.seed
    );
    if let Some(dir) = &r.dir {
        println!("ran in {dir} (removed after)");
    }
    println!("| operation | rate | p50 | p99 | recall@10 | notes |");
    println!("|---|---:|---:|---:|---:|---|");
    for row in &r.rows {
        println!(
            "| {} | {:.0} {} | {:.3} ms | {:.3} ms | {} | {} |",
            row.op,
            row.rate,
            row.unit,
            row.p50_ms,
            row.p99_ms,
            row.recall.map_or("—".into(), |x| format!("{x:.3}")),
            row.note
        );
    }
    if let Some(s) = r.reopen_secs {
        println!("reopen: {s:.2} s");
    }
    if let Some((after_deposits, after_reopen)) = r.indexed_secs {
        println!(
            "vector search partitioned in the background: {after_deposits:.2} s after the last \
             deposit, {after_reopen:.2} s after reopening began (queries measured after)"
        );
    }
    if let Some(s) = r.engine_indexed_secs {
        println!("indexing after the last deposit: {s:.1} s (queries measured after)");
    }
    if let Some(states) = r.partitioned {
        for ((domains, partitioned, declined), when) in states
            .into_iter()
            .zip(["after the deposits", "after reopening"])
        {
            println!(
                "domains with vectors {when}: {domains}, {partitioned} partitioned, \
                 {declined} searched whole for want of clusters"
            );
        }
    }
    if let (Some(a), Some(b)) = (r.rss_after_deposits_mb, r.rss_after_reopen_mb) {
        println!(
            "resident memory of the store: {a:.0} MB after the deposits, {b:.0} MB after reopening and querying"
        );
    }
    if let Some(p) = &r.profile {
        println!(
            "vectors' mean cosine: {:.3} within a topic, {:.3} across topics of a domain, {:.3} across domains; {:.3} to a query's nearest packet",
            p.same_topic, p.same_domain, p.other_domain, p.nearest
        );
    }
}

pub async fn run(global: &Global, args: Args) -> Result<()> {
    match args.packets.as_slice() {
        [] => bail!("--packets: give at least one size"),
        [total] => {
            let reports = run_one(global, &args, *total).await?;
            if args.report_only {
                println!("{}", serde_json::to_string(&reports)?);
                return Ok(());
            }
            for r in &reports {
                print_report(r);
                println!();
            }
            if args.json {
                println!("{}", serde_json::to_string(&reports)?);
            }
            Ok(())
        }
        sizes => run_curve(global, &args, sizes),
    }
}

/// Each size in a process of its own, then the curve.
fn run_curve(global: &Global, args: &Args, sizes: &[usize]) -> Result<()> {
    let exe = std::env::current_exe()?;
    let mut all: Vec<Vec<Report>> = Vec::new();
    for &total in sizes {
        eprintln!("== {total} packets");
        let mut cmd = std::process::Command::new(&exe);
        if let Some(d) = &global.data {
            cmd.arg("--data").arg(d);
        }
        if let Some(r) = &global.router {
            cmd.arg("--router").arg(r);
        }
        if let Some(c) = &global.config {
            cmd.arg("--config").arg(c);
        }
        cmd.args(["bench", "--report-only"])
            .arg(format!("--packets={total}"))
            .arg(format!("--dim={}", args.dim))
            .arg(format!("--batch={}", args.batch))
            .arg(format!("--queries={}", args.queries))
            .arg(format!("--seed={}", args.seed))
            .arg(format!(
                "--vectors={}",
                clap::ValueEnum::to_possible_value(&args.vectors)
                    .map_or_else(String::new, |v| v.get_name().to_owned())
            ))
            .arg(format!(
                "--embedder={}",
                clap::ValueEnum::to_possible_value(&args.embedder)
                    .map_or_else(String::new, |v| v.get_name().to_owned())
            ));
        if let Some(a) = &args.against {
            cmd.arg("--against").arg(a);
        }
        if let Some(n) = args.exact_below {
            cmd.arg(format!("--exact-below={n}"));
        }
        let out = cmd.stderr(std::process::Stdio::inherit()).output()?;
        if !out.status.success() {
            bail!("the run of {total} packets failed ({})", out.status);
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().last().unwrap_or_default();
        let reports: Vec<Report> =
            serde_json::from_str(line).with_context(|| format!("the report of {total} packets"))?;
        for r in &reports {
            print_report(r);
            println!();
        }
        all.push(reports);
    }
    print_curve(&all);
    if let Some(path) = &args.plot {
        plot_curve(&all, path)?;
        println!("plot: {}", path.display());
    }
    if args.json {
        println!("{}", serde_json::to_string(&all)?);
    }
    Ok(())
}

fn print_curve(all: &[Vec<Report>]) {
    let Some(first) = all.first().and_then(|r| r.first()) else {
        return;
    };
    println!(
        "How the costs grow ({} router, {} vectors): rate / p99 / recall",
        first.router, first.vectors
    );
    print!("| operation |");
    for r in all {
        print!(" {} |", r[0].packets);
    }
    println!();
    print!("|---|");
    for _ in all {
        print!("---:|");
    }
    println!();
    for (i, op) in first.rows.iter().enumerate() {
        print!("| {} |", op.op);
        for r in all {
            match r[0].rows.get(i) {
                Some(x) => print!(
                    " {:.0} {} / {:.2} ms{} |",
                    x.rate,
                    x.unit,
                    x.p99_ms,
                    x.recall.map_or(String::new(), |v| format!(" / {v:.3}"))
                ),
                None => print!(" |"),
            }
        }
        println!();
    }
    print!("| reopen |");
    for r in all {
        print!(
            " {} |",
            r[0].reopen_secs.map_or("—".into(), |s| format!("{s:.2} s"))
        );
    }
    println!();
    print!("| resident memory after reopening |");
    for r in all {
        print!(
            " {} |",
            r[0].rss_after_reopen_mb
                .map_or("—".into(), |m| format!("{m:.0} MB"))
        );
    }
    println!();
}

fn plot_curve(all: &[Vec<Report>], path: &Path) -> Result<()> {
    let Some(first) = all.first().and_then(|r| r.first()) else {
        return Ok(());
    };
    let lines = |f: &dyn Fn(&Row) -> f64| -> Vec<Line> {
        first
            .rows
            .iter()
            .enumerate()
            .map(|(i, op)| Line {
                name: op.op.clone(),
                points: all
                    .iter()
                    .filter_map(|r| r[0].rows.get(i).map(|x| (r[0].packets as f64, f(x))))
                    .collect(),
            })
            .collect()
    };
    let charts = [
        LogLogChart {
            title: format!("{} store, {} vectors: rates", first.router, first.vectors),
            x_desc: "packets in the store".into(),
            y_desc: "per second".into(),
            lines: lines(&|r| r.rate),
        },
        LogLogChart {
            title: "p99 latency".into(),
            x_desc: "packets in the store".into(),
            y_desc: "ms".into(),
            lines: lines(&|r| r.p99_ms),
        },
    ];
    draw_log_log(path, &charts)?;
    Ok(())
}
