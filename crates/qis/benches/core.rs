//! Core benchmarks: deposit, exact query and synthesis on the memory router.
//!
//! Each benchmark mirrors one step of the seed's Python loop (see `bench/seed_baseline.py`, which
//! times the same steps in CPython), so `scripts/bench-core` can print ratios measured in one run.
//!
//! | bench | one iteration is | elements |
//! |---|---|---|
//! | `deposit/make_and_deposit` | 1000 × (keys fingerprint + build packet + `deposit(&[one])`) into a fresh router | 1000 |
//! | `deposit/one_at_a_time` | 1000 prebuilt packets, `deposit(&[one])` each, fresh router | 1000 |
//! | `deposit/batch1000_prebuilt` | one `deposit(&batch)` of 1000 prebuilt packets, fresh router | 1000 |
//! | `query/exact_limit50` | `Query::exact(addr).limit(50)` on 20 addresses × 200 packets | 1 |
//! | `query/fingerprint_and_exact_limit50` | keys fingerprint, then the same query (the seed's `query()`) | 1 |
//! | `synth/{frequency,weighted,bayesian}_50` | one synthesis of 50 hits from 50 agents | 1 |
//! | `parts/*` | one keys fingerprint, packet id, packet build (id + validation), validation | 1 |
//!
//! Routers are async. Every benchmark runs inside one tokio current-thread runtime through
//! `Bencher::to_async`, which drives the whole timing loop in a single `block_on`: the only async
//! cost left in the figures is creating and polling the (boxed, `async_trait`) future, which the
//! memory router resolves on its first poll. That is what a caller inside a runtime pays.
//!
//! Deposit benches start every iteration from a fresh router built in untimed setup
//! (`BatchSize::PerIteration`, output dropped untimed), so memory does not grow without bound and
//! each iteration sees the same router sizes (0 → 1000 packets).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use qis::fingerprint::{Context, Fingerprint, KeysFingerprint};
use qis::packet::{Address, Outcome, Packet, PacketId};
use qis::router::memory::MemoryRouter;
use qis::router::{Hit, Query, Routed, Router};
use qis::synth::{Bayesian, Frequency, Options, Synthesizer, Weighted};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Packets per iteration of the deposit benches.
const DEPOSIT_BATCH: usize = 1000;
/// The query benches' router: this many addresses …
const QUERY_ADDRESSES: usize = 20;
/// … with this many packets each.
const PACKETS_PER_ADDRESS: usize = 200;
/// The seed's query limit, and the synthesis input size.
const LIMIT: usize = 50;

const DOMAIN: &str = "clinical_trial";
const PROTOCOLS: [&str; 2] = ["once_weekly", "twice_weekly"];

/// One agent's local outcome, as the seed's demo draws it.
#[derive(Clone, Debug)]
struct Draw {
    agent: String,
    hba1c_reduction: f64,
    adherence: f64,
    protocol: &'static str,
    confidence: f32,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A standard normal draw (Box–Muller), to avoid a dependency on `rand_distr`.
fn gauss(rng: &mut StdRng, mean: f64, sd: f64) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random();
    mean + sd * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `n` seed-like outcomes from `n` distinct agents: HbA1c reduction ~ N(1.2, 0.3), adherence
/// ~ U(0.6, 0.95), both rounded to 2 decimals; protocol from two choices.
fn draws(rng: &mut StdRng, n: usize) -> Vec<Draw> {
    (0..n)
        .map(|i| Draw {
            agent: format!("site_{i:04}"),
            hba1c_reduction: round2(gauss(rng, 1.2, 0.3)),
            adherence: round2(rng.random_range(0.6..0.95)),
            protocol: PROTOCOLS[rng.random_range(0..PROTOCOLS.len())],
            confidence: round2(rng.random_range(0.5..1.0)) as f32,
        })
        .collect()
}

fn context() -> Context {
    serde_json::from_str(r#"{"condition": "T2D", "intervention_type": "GLP1"}"#)
        .expect("a JSON object")
}

/// The seed's `make_outcome_packet`: a packet from one draw at `address`.
fn packet(domain: &str, address: Address, d: &Draw) -> Packet {
    Packet::builder(d.agent.as_str(), domain, address)
        .outcome(Outcome::Resolved)
        .confidence(d.confidence)
        .result("hba1c_reduction", d.hba1c_reduction)
        .result("adherence", d.adherence)
        .result("protocol", d.protocol)
        .build()
        .expect("a valid packet")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime")
}

fn deposit(c: &mut Criterion) {
    let rt = runtime();
    let fingerprint = KeysFingerprint::new();
    let context = context();
    let address = fingerprint.address(DOMAIN, &context).unwrap();
    let inputs = draws(&mut StdRng::seed_from_u64(1), DEPOSIT_BATCH);
    // Fresh packets (fresh ids) for every iteration, built outside the timing.
    let prebuilt = || -> Vec<Routed> {
        inputs
            .iter()
            .map(|d| Routed::new(packet(DOMAIN, address, d)))
            .collect()
    };

    let mut group = c.benchmark_group("deposit");
    group.throughput(Throughput::Elements(DEPOSIT_BATCH as u64));

    // What the seed's loop does per agent: fingerprint the problem, build the packet, deposit it.
    group.bench_function("make_and_deposit", |b| {
        b.to_async(&rt).iter_batched(
            MemoryRouter::new,
            |router| {
                let (fingerprint, context, inputs) = (&fingerprint, &context, &inputs);
                async move {
                    for d in inputs {
                        let address = fingerprint.address(DOMAIN, context).unwrap();
                        let routed = Routed::new(packet(DOMAIN, address, d));
                        black_box(router.deposit(std::slice::from_ref(&routed)).await.unwrap());
                    }
                    router
                }
            },
            BatchSize::PerIteration,
        )
    });

    group.bench_function("one_at_a_time", |b| {
        b.to_async(&rt).iter_batched(
            || (MemoryRouter::new(), prebuilt()),
            |(router, batch)| async move {
                for routed in &batch {
                    black_box(router.deposit(std::slice::from_ref(routed)).await.unwrap());
                }
                (router, batch)
            },
            BatchSize::PerIteration,
        )
    });

    group.bench_function("batch1000_prebuilt", |b| {
        b.to_async(&rt).iter_batched(
            || (MemoryRouter::new(), prebuilt()),
            |(router, batch)| async move {
                black_box(router.deposit(&batch).await.unwrap());
                (router, batch)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn query(c: &mut Criterion) {
    let rt = runtime();
    let fingerprint = KeysFingerprint::new();
    let context = context();
    let router = MemoryRouter::new();
    let mut rng = StdRng::seed_from_u64(2);
    // Address 0 is the seed's problem; the other 19 are other domains with the same context keys.
    let mut target = None;
    for a in 0..QUERY_ADDRESSES {
        let domain = if a == 0 {
            DOMAIN.to_owned()
        } else {
            format!("trial_{a:02}")
        };
        let address = fingerprint.address(&domain, &context).unwrap();
        target.get_or_insert(address);
        let batch: Vec<Routed> = draws(&mut rng, PACKETS_PER_ADDRESS)
            .iter()
            .map(|d| Routed::new(packet(&domain, address, d)))
            .collect();
        rt.block_on(router.deposit(&batch)).unwrap();
    }
    let target = target.unwrap();
    let stats = rt.block_on(router.stats()).unwrap();
    assert_eq!(stats.addresses as usize, QUERY_ADDRESSES);
    assert_eq!(
        stats.packets as usize,
        QUERY_ADDRESSES * PACKETS_PER_ADDRESS
    );
    let hits = rt
        .block_on(router.query(&Query::exact(target).limit(LIMIT)))
        .unwrap();
    assert_eq!(hits.len(), LIMIT);

    let (router, fingerprint, context) = (&router, &fingerprint, &context);
    let mut group = c.benchmark_group("query");
    group.throughput(Throughput::Elements(1));
    group.bench_function("exact_limit50", |b| {
        b.to_async(&rt).iter(|| async move {
            let hits = router
                .query(&Query::exact(black_box(target)).limit(LIMIT))
                .await
                .unwrap();
            black_box(hits)
        })
    });
    // With a filter other than the domain (one that keeps every packet) the answer is built
    // packet by packet: the cost of a query that cannot share the address's snapshot.
    group.bench_function("exact_limit50_filtered", |b| {
        let filter = qis::router::Filter {
            min_confidence: Some(0.0),
            ..qis::router::Filter::default()
        };
        let filter = &filter;
        b.to_async(&rt).iter(|| async move {
            let hits = router
                .query(
                    &Query::exact(black_box(target))
                        .filter(filter.clone())
                        .limit(LIMIT),
                )
                .await
                .unwrap();
            black_box(hits)
        })
    });
    // The seed's query(): fingerprint the problem, then read the address.
    group.bench_function("fingerprint_and_exact_limit50", |b| {
        b.to_async(&rt).iter(|| async move {
            let address = fingerprint
                .address(black_box(DOMAIN), black_box(context))
                .unwrap();
            let hits = router
                .query(&Query::exact(address).limit(LIMIT))
                .await
                .unwrap();
            black_box(hits)
        })
    });
    group.finish();
}

fn synth(c: &mut Criterion) {
    let address = KeysFingerprint::new().address(DOMAIN, &context()).unwrap();
    let hits: Vec<Hit> = draws(&mut StdRng::seed_from_u64(3), LIMIT)
        .iter()
        .map(|d| Hit {
            packet: Arc::new(packet(DOMAIN, address, d)),
            score: 1.0,
        })
        .collect();
    let now = qis::packet::now_ms();
    let synthesizers: [(&str, Box<dyn Synthesizer>); 3] = [
        ("frequency_50", Box::new(Frequency(Options::default()))),
        ("weighted_50", Box::new(Weighted(Options::default()))),
        ("bayesian_50", Box::new(Bayesian(Options::default()))),
    ];
    for (_, s) in &synthesizers {
        let insight = s.synthesize_at(&hits, now);
        assert_eq!(insight.sample_size, LIMIT);
        assert_eq!(insight.agents, LIMIT);
    }

    let mut group = c.benchmark_group("synth");
    group.throughput(Throughput::Elements(1));
    for (name, s) in &synthesizers {
        group.bench_function(*name, |b| {
            b.iter(|| black_box(s.synthesize_at(black_box(&hits), now)))
        });
    }
    group.finish();
}

/// The pieces of `deposit/make_and_deposit`, to see where its time goes (no goal; for reading).
fn parts(c: &mut Criterion) {
    let fingerprint = KeysFingerprint::new();
    let context = context();
    let address = fingerprint.address(DOMAIN, &context).unwrap();
    let draw = draws(&mut StdRng::seed_from_u64(4), 1).remove(0);
    let built = packet(DOMAIN, address, &draw);

    let mut group = c.benchmark_group("parts");
    group.throughput(Throughput::Elements(1));
    group.bench_function("keys_fingerprint", |b| {
        b.iter(|| {
            fingerprint
                .address(black_box(DOMAIN), black_box(&context))
                .unwrap()
        })
    });
    group.bench_function("packet_id", |b| b.iter(PacketId::new));
    group.bench_function("build_packet", |b| {
        b.iter(|| packet(DOMAIN, black_box(address), black_box(&draw)))
    });
    group.bench_function("validate", |b| {
        b.iter(|| black_box(&built).validate().unwrap())
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = deposit, query, synth, parts
}
criterion_main!(benches);
