//! The model-free embedder: deterministic, unit length, and paraphrases nearer than strangers.

use qis::embed::{Embedder, HashedEmbedder};
use qis::router::cosine;

/// (problem, a paraphrase of it, an unrelated problem)
const TRIPLES: &[(&str, &str, &str)] = &[
    (
        "Transformer attention overhead grows quadratically with sequence length",
        "attention cost in transformers scales quadratically as sequences get longer",
        "soil moisture sensors drift after heavy rain in clay fields",
    ),
    (
        "HbA1c stays high in type 2 diabetes patients on metformin alone",
        "type 2 diabetic patients on metformin monotherapy keep a high HbA1c",
        "container images take too long to pull on cold nodes",
    ),
    (
        "inference latency unacceptable at 8k tokens",
        "latency of inference is unacceptable beyond 8k tokens",
        "wheat yield drops under late frost",
    ),
    (
        "database connection pool exhausted under peak load",
        "peak load exhausts the pool of database connections",
        "patients miss follow-up appointments after discharge",
    ),
    (
        "flaky integration tests fail intermittently on CI runners",
        "integration tests on the CI runners are flaky and fail intermittently",
        "credit risk exposure rises in a high interest rate regime",
    ),
    (
        "crop irrigation schedule wastes water in sandy soil",
        "irrigation schedules for crops in sandy soils waste water",
        "gradient explodes when training deep recurrent networks",
    ),
    (
        "model overfits small tabular datasets",
        "overfitting of the model on small tabular data sets",
        "hospital readmission rates after cardiac surgery",
    ),
    (
        "memory leak in the websocket server after reconnects",
        "websocket server leaks memory when clients reconnect",
        "fertilizer runoff pollutes nearby streams",
    ),
    (
        "blood pressure not controlled by ACE inhibitors",
        "ACE inhibitor therapy fails to control blood pressure",
        "kubernetes pods evicted for disk pressure",
    ),
    (
        "portfolio volatility spikes during market regime shifts",
        "market regime shifts cause spikes in portfolio volatility",
        "retrieval augmented generation returns stale documents",
    ),
    (
        "GPU utilisation low because the data loader is slow",
        "slow data loaders leave GPU utilization low",
        "insulin dosing errors in elderly patients",
    ),
    (
        "checkout page conversion drops on mobile browsers",
        "conversion on the checkout page falls for mobile browsers",
        "vaccine cold chain breaks during rural transport",
    ),
];

#[test]
fn paraphrases_are_nearer_than_unrelated_problems() {
    let e = HashedEmbedder::default();
    let mut margins = Vec::new();
    for (a, b, c) in TRIPLES {
        let v = e.embed_batch(&[a, b, c]).unwrap();
        let para = cosine(&v[0], &v[1]);
        let other = cosine(&v[0], &v[2]);
        assert!(
            para > other + 0.1,
            "{a:?}: paraphrase {para:.3} vs unrelated {other:.3}"
        );
        margins.push(para - other);
    }
    // Across pairs too: every paraphrase is nearer its problem than any other triple's text.
    for (i, (a, b, _)) in TRIPLES.iter().enumerate() {
        let va = e.embed(a).unwrap();
        let para = cosine(&va, &e.embed(b).unwrap());
        for (j, (x, y, z)) in TRIPLES.iter().enumerate() {
            if i == j {
                continue;
            }
            for t in [x, y, z] {
                let s = cosine(&va, &e.embed(t).unwrap());
                assert!(para > s, "{a:?} ~ {b:?} ({para:.3}) but ~ {t:?} ({s:.3})");
            }
        }
    }
    let mean = margins.iter().sum::<f32>() / margins.len() as f32;
    assert!(mean > 0.3, "mean margin {mean}");
}

#[test]
fn vectors_are_deterministic_unit_and_sized() {
    let e = HashedEmbedder::new(128).unwrap();
    let a = e.embed("Flash attention cut p99 latency").unwrap();
    assert_eq!(a, e.embed("Flash attention cut p99 latency").unwrap());
    assert_eq!(a.len(), 128);
    assert!((a.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
    // Fixed hashing (xxh3, fixed seeds): these values hold on every machine and release. A change
    // here changes every stored hashed vector: bump the embedder's name when it is deliberate.
    let pinned = HashedEmbedder::default()
        .embed("qis routes outcomes")
        .unwrap();
    let strong: Vec<(usize, f32)> = pinned
        .iter()
        .enumerate()
        .filter(|(_, x)| x.abs() > 0.15)
        .map(|(i, x)| (i, (x * 1000.0).round() / 1000.0))
        .collect();
    assert_eq!(
        strong,
        vec![
            (100, 0.191),
            (110, -0.191),
            (127, 0.191),
            (154, 0.477),
            (156, -0.381),
            (247, -0.381),
            (349, -0.191)
        ]
    );
}

#[test]
fn blank_text_and_bad_dimensions_are_refused() {
    let e = HashedEmbedder::default();
    assert!(e.embed("   ").unwrap_err().to_string().contains("text"));
    assert!(HashedEmbedder::new(3).is_err());
    // Symbols only still give a unit vector.
    let v = e.embed("++ --").unwrap();
    assert!((v.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
}
