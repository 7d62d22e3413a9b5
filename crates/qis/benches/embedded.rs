//! Embedded store benchmarks at 100,000 packets × 384-d random unit vectors (issue 3's goals).
//!
//! | bench | one iteration is | elements |
//! |---|---|---|
//! | `embedded/deposit_batch1000` | one durable `deposit(&batch)` of 1000 packets with vectors | 1000 |
//! | `embedded/exact_limit50` | `Query::exact(addr).limit(50)` over 2,000 addresses × 50 packets | 1 |
//! | `embedded/vector_top10` | top-10 nearest, no filter | 1 |
//! | `embedded/vector_top10_domain` | top-10 nearest in one domain of ten (~10 %) | 1 |
//! | `embedded/vector_top10_domain_conf` | … and confidence ≥ 0.5 (~5 %) | 1 |
//!
//! The store is built once (untimed) in a temporary directory; the default options are used, so
//! vector queries go through the approximate two-pass index (100k is past `exact_below`). Recall
//! against exact search is measured by `qis bench`, which runs the same workload end to end.
//!
//! `QIS_BENCH_PACKETS` changes the store size (e.g. 20000 for a quick look).
//!
//! ```text
//! cargo bench -p qis --features embedded --bench embedded
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qis::packet::{Address, Outcome, Packet, now_ms};
use qis::router::embedded::{EmbeddedOptions, EmbeddedRouter};
use qis::router::{Filter, Query, Routed, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DIM: usize = 384;
const DOMAINS: usize = 10;
const ADDRESSES: usize = 2_000;
const BATCH: usize = 1_000;

fn unit(rng: &mut StdRng) -> Vec<f32> {
    let v: Vec<f32> = (0..DIM).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn address(i: usize) -> Address {
    Address::from_bytes(&(i as u64).to_be_bytes()).expect("8 bytes")
}

fn batch(rng: &mut StdRng, start: usize, n: usize, now: u64) -> Vec<Routed> {
    (start..start + n)
        .map(|i| {
            let packet = Packet::builder(
                format!("agent-{}", i % 5_000),
                format!("domain-{}", i % DOMAINS),
                address(i % ADDRESSES),
            )
            .outcome(Outcome::ALL[i % 3])
            .confidence(rng.random_range(0.0..1.0))
            .result("effect", rng.random_range(0.0..2.0))
            .result("protocol", if i % 2 == 0 { "weekly" } else { "daily" })
            .tag(format!("tag-{}", i % 7))
            .summary("benchmark packet")
            .created(now - 1_000_000 + i as u64)
            .build()
            .expect("valid packet");
            Routed::with_vector(packet, &unit(rng)).expect("unit vector")
        })
        .collect()
}

fn embedded(c: &mut Criterion) {
    let packets: usize = std::env::var("QIS_BENCH_PACKETS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let options = EmbeddedOptions::default().purge_interval(None);
    let store = runtime
        .block_on(EmbeddedRouter::open_with(dir.path(), options))
        .expect("open");
    let mut rng = StdRng::seed_from_u64(1);
    let now = now_ms();
    runtime.block_on(async {
        for start in (0..packets).step_by(BATCH) {
            let b = batch(&mut rng, start, BATCH.min(packets - start), now);
            store.deposit(&b).await.expect("deposit");
        }
    });

    let mut group = c.benchmark_group("embedded");
    group.measurement_time(Duration::from_secs(5));

    // Deposits grow the store; a thousand more per iteration barely changes its size.
    let mut next = packets;
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    group.bench_function("deposit_batch1000", |b| {
        b.iter_batched(
            || {
                let made = batch(&mut rng, next, BATCH, now);
                next += BATCH;
                made
            },
            |made| runtime.block_on(store.deposit(&made)).expect("deposit"),
            criterion::BatchSize::PerIteration,
        )
    });

    group.throughput(Throughput::Elements(1));
    group.sample_size(50);
    let mut i = 0usize;
    group.bench_function("exact_limit50", |b| {
        b.to_async(&runtime).iter(|| {
            i = (i + 7919) % ADDRESSES;
            let q = Query::exact(address(i)).limit(50);
            let store = &store;
            async move { black_box(store.query(&q).await.expect("query")) }
        })
    });

    let targets: Vec<Vec<f32>> = (0..64).map(|_| unit(&mut rng)).collect();
    let cases = [
        ("vector_top10", Filter::default()),
        (
            "vector_top10_domain",
            Filter {
                domain: Some("domain-3".into()),
                ..Filter::default()
            },
        ),
        (
            "vector_top10_domain_conf",
            Filter {
                domain: Some("domain-3".into()),
                min_confidence: Some(0.5),
                ..Filter::default()
            },
        ),
    ];
    for (name, filter) in cases {
        let mut t = 0usize;
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| {
                t = (t + 1) % targets.len();
                let q = Query::nearest(&targets[t], 10)
                    .expect("unit vector")
                    .filter(filter.clone());
                let store = &store;
                async move { black_box(store.query(&q).await.expect("query")) }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, embedded);
criterion_main!(benches);
