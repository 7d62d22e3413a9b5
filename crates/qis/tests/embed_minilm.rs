//! all-MiniLM-L6-v2 in process against sentence-transformers itself.
//!
//! `tests/fixtures/minilm_reference.json` holds 36 texts (short, long past the 256 word-piece limit,
//! non-ASCII, punctuation) with the vectors sentence-transformers computes for them from the same
//! model files (`scripts/make-minilm-fixture`). The model itself is not in the repository:
//! `scripts/fetch-model` fetches it (`scripts/test` does so first). Without it these tests fail,
//! saying so; they never skip.

#![cfg(feature = "minilm")]

use std::path::PathBuf;
use std::sync::OnceLock;

use qis::Error;
use qis::embed::{Embedder, MiniLmEmbedder, default_model_dir};
use qis::router::cosine;
use serde_json::Value;

/// Loading takes a moment (90 MB of weights); the tests share one embedder.
fn embedder() -> &'static MiniLmEmbedder {
    static E: OnceLock<MiniLmEmbedder> = OnceLock::new();
    E.get_or_init(|| {
        let dir = default_model_dir();
        MiniLmEmbedder::from_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "cannot load all-MiniLM-L6-v2 from {}: {e}\n\
                 These tests need the model: run scripts/fetch-model at the repository root \
                 (or set QIS_MODEL_DIR).",
                dir.display()
            )
        })
    })
}

struct Reference {
    text: String,
    wordpieces: u64,
    vector: Vec<f32>,
}

fn reference() -> Vec<Reference> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm_reference.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc["dimension"], 384);
    assert_eq!(doc["max_seq_length"], 256);
    doc["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Reference {
            text: s["text"].as_str().unwrap().to_owned(),
            wordpieces: s["wordpieces"].as_u64().unwrap(),
            vector: s["vector"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect(),
        })
        .collect()
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// Embeds every reference text in batches of `batch` and checks each vector against its
/// reference; returns the worst cosine.
fn check_against_reference(batch: usize) -> f32 {
    let e = embedder();
    let refs = reference();
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    let mut got = Vec::new();
    for chunk in texts.chunks(batch) {
        got.extend(e.embed_batch(chunk).unwrap());
    }
    assert_eq!(got.len(), refs.len());
    let mut worst = f32::INFINITY;
    let mut failures = Vec::new();
    for (r, v) in refs.iter().zip(&got) {
        assert_eq!(v.len(), 384, "dimension of {:?}", r.text);
        assert!(
            (norm(v) - 1.0).abs() < 1e-4,
            "norm {} for {:?}",
            norm(v),
            r.text
        );
        assert_eq!(r.vector.len(), 384);
        let c = cosine(v, &r.vector);
        worst = worst.min(c);
        if c.is_nan() || c < 0.999 {
            failures.push(format!("cosine {c:.6} for {:?}", r.text));
        }
    }
    assert!(
        failures.is_empty(),
        "vectors differ from sentence-transformers' (batch {batch}):\n{}",
        failures.join("\n")
    );
    worst
}

#[test]
fn matches_sentence_transformers_in_batches() {
    let worst = check_against_reference(8);
    eprintln!("worst cosine against sentence-transformers, batches of 8: {worst:.7}");
}

#[test]
fn matches_sentence_transformers_one_by_one_and_all_at_once() {
    check_against_reference(1);
    check_against_reference(64);
}

#[test]
fn the_fixture_exercises_truncation() {
    let refs = reference();
    assert!(refs.len() >= 30);
    assert!(
        refs.iter().filter(|r| r.wordpieces > 256).count() >= 2,
        "the fixture must hold texts longer than 256 word-pieces"
    );
    assert!(refs.iter().any(|r| !r.text.is_ascii()));
    // The text of 255 words and one more is cut to the same 256 word-pieces as the text of
    // 254 words: the same vector.
    let e = embedder();
    let fits = ["word"; 254].join(" ");
    let over = format!("{} ending", ["word"; 255].join(" "));
    let (a, b) = (e.embed(&fits).unwrap(), e.embed(&over).unwrap());
    assert!(cosine(&a, &b) > 0.99999, "cosine {}", cosine(&a, &b));
}

#[test]
fn identity_and_basic_contract() {
    let e = embedder();
    assert_eq!(e.name(), "all-MiniLM-L6-v2");
    assert_eq!(e.dimension(), 384);
    assert!(e.embed_batch(&[]).unwrap().is_empty());
    assert!(matches!(e.embed("   \n"), Err(Error::Invalid { .. })));
    assert!(matches!(
        e.embed_batch(&["fine", ""]),
        Err(Error::Invalid { .. })
    ));
    // Synonyms, which the hashed embedder cannot see.
    let car = e.embed("my car will not start in the cold").unwrap();
    let auto = e
        .embed("the automobile fails to start on freezing mornings")
        .unwrap();
    let other = e.embed("wheat yield drops under late frost").unwrap();
    assert!(cosine(&car, &auto) > cosine(&car, &other) + 0.2);
}

#[test]
fn a_missing_directory_or_file_is_a_clear_error() {
    let missing = std::env::temp_dir().join(format!("qis-no-model-{}", std::process::id()));
    let err = MiniLmEmbedder::from_dir(&missing).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(msg.contains(&missing.display().to_string()), "{msg}");
    assert!(msg.contains("scripts/fetch-model"), "{msg}");

    // A directory with a tokenizer but no weights names the missing file.
    let dir = std::env::temp_dir().join(format!("qis-half-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tokenizer.json"), "{}").unwrap();
    let msg = MiniLmEmbedder::from_dir(&dir).unwrap_err().to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(msg.contains("model.safetensors"), "{msg}");
    assert!(msg.contains("scripts/fetch-model"), "{msg}");
}
