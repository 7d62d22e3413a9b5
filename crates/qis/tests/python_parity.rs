//! Parity with the seed, checked against CPython itself on hundreds of random inputs.
//!
//! `tests/python/seed_reference.py` restates the seed's `semantic_fingerprint` and `synthesize`.
//! The interpreter is `$QIS_PYTHON` or `python3`; `scripts/test` installs it. These tests fail (they
//! do not skip) when it is missing: parity is part of what the suite promises.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use qis::fingerprint::{Context, Fingerprint, KeysFingerprint};
use qis::packet::{Address, Packet, ResultMap, ResultValue};
use qis::router::Hit;
use qis::synth::{Frequency, Options, PerAgent, Synthesizer};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// Sends one JSON request per line to the reference script; returns its answers.
fn ask_python(requests: &[Value]) -> Vec<Value> {
    let python = std::env::var("QIS_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/seed_reference.py"
    );
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {python} (set QIS_PYTHON or run scripts/test): {e}")
        });
    let mut input = String::new();
    for r in requests {
        input.push_str(&r.to_string());
        input.push('\n');
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the reference script failed");
    let answers: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), requests.len());
    answers
}

/// Characters chosen to stress Python's `json.dumps` escaping: quotes, backslashes, spaces,
/// control characters, DEL, Latin-1, BMP and astral characters, separators and a BOM.
const ALPHABET: &[char] = &[
    'a',
    'b',
    'z',
    'A',
    'Q',
    '0',
    '9',
    '_',
    '-',
    ' ',
    '"',
    '\\',
    '/',
    '\'',
    '{',
    '}',
    '[',
    ':',
    ',',
    '\n',
    '\t',
    '\r',
    '\u{08}',
    '\u{0c}',
    '\u{01}',
    '\u{1f}',
    '\u{7f}',
    '\u{80}',
    '\u{e9}',
    '\u{df}',
    '\u{3a3}',
    '\u{4e2d}',
    '\u{2028}',
    '\u{feff}',
    '\u{ffff}',
    '\u{1f600}',
    '\u{1d11e}',
    '\u{10ffff}',
];

fn random_text(rng: &mut StdRng, max: usize) -> String {
    let len = rng.random_range(0..=max);
    (0..len).map(|_| *ALPHABET.choose(rng).unwrap()).collect()
}

#[test]
fn keys_fingerprint_matches_python_on_random_contexts() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let fp = KeysFingerprint::new();
    let mut requests = Vec::new();
    let mut ours = Vec::new();
    for _ in 0..400 {
        let domain = random_text(&mut rng, 12);
        let mut context = Context::new();
        for _ in 0..rng.random_range(0..7) {
            context.insert(random_text(&mut rng, 10), json!(rng.random::<u32>()));
        }
        let keys: Vec<&String> = context.keys().collect();
        requests.push(json!({"op": "fingerprint", "domain": domain, "keys": keys}));
        ours.push(fp.address(&domain, &context).unwrap().to_hex());
    }
    // The reference case the issue names, and the seed's demo context.
    let demo: Context =
        serde_json::from_str(r#"{"condition": "T2D", "intervention_type": "GLP1"}"#).unwrap();
    requests.push(json!({"op": "fingerprint", "domain": "clinical_trial",
                         "keys": ["condition", "intervention_type"]}));
    ours.push(fp.address("clinical_trial", &demo).unwrap().to_hex());

    let answers = ask_python(&requests);
    for ((request, mine), answer) in requests.iter().zip(&ours).zip(&answers) {
        assert_eq!(mine, &answer["address"], "for {request}");
    }
    assert_eq!(ours.last().unwrap(), "1dd96c30c27fe860");
}

fn packet(agent: &str, result: &ResultMap) -> Packet {
    Packet::builder(
        agent,
        "clinical_trial",
        Address::from_hex("1dd96c30c27fe860").unwrap(),
    )
    .confidence(0.7)
    .results(result.clone())
    .build()
    .unwrap()
}

fn random_result(rng: &mut StdRng) -> ResultMap {
    let mut r = BTreeMap::new();
    r.insert(
        "hba1c_reduction".to_owned(),
        ResultValue::Number((rng.random_range(90..130) as f64) / 100.0),
    );
    r.insert(
        "protocol".to_owned(),
        ResultValue::Text(
            ["once_weekly", "twice_weekly"]
                .choose(rng)
                .unwrap()
                .to_string(),
        ),
    );
    if rng.random_bool(0.3) {
        r.insert("adverse".to_owned(), ResultValue::Bool(rng.random()));
    }
    r
}

/// On the same packets, `frequency` gives the seed's insight, sample size and consensus rate.
#[test]
fn frequency_synthesis_matches_python_on_random_packet_sets() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut requests = Vec::new();
    let mut ours = Vec::new();
    for case in 0..300 {
        // A few candidate results, drawn with repeats, so that counts and ties both occur.
        let pool: Vec<ResultMap> = (0..rng.random_range(1..5))
            .map(|_| random_result(&mut rng))
            .collect();
        let n = rng.random_range(1..30);
        // Half the cases: one packet per agent (the default per-agent rule changes nothing);
        // the other half: agents repeat, compared with `PerAgent::All`, the seed's counting.
        let repeat_agents = case % 2 == 1;
        let results: Vec<ResultMap> = (0..n)
            .map(|_| pool.choose(&mut rng).unwrap().clone())
            .collect();
        let hits: Vec<Hit> = results
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let agent = if repeat_agents {
                    format!("site_{}", i % 3)
                } else {
                    format!("site_{i:02}")
                };
                Hit {
                    packet: Arc::new(packet(&agent, r)),
                    score: 1.0,
                }
            })
            .collect();
        let per_agent = if repeat_agents {
            PerAgent::All
        } else {
            PerAgent::default()
        };
        let insight = Frequency(Options {
            per_agent,
            ..Options::default()
        })
        .synthesize(&hits);
        ours.push(insight);
        requests.push(json!({"op": "frequency", "results": results}));
    }
    let answers = ask_python(&requests);
    for ((insight, answer), request) in ours.iter().zip(&answers).zip(&requests) {
        let best = serde_json::to_value(insight.best.as_ref().unwrap()).unwrap();
        assert_eq!(best, answer["insight"], "insight for {request}");
        assert_eq!(
            insight.sample_size as u64,
            answer["sample_size"].as_u64().unwrap()
        );
        let rate = answer["consensus_rate"].as_f64().unwrap();
        assert!(
            (insight.consensus_rate.unwrap() - rate).abs() < 1e-12,
            "rate for {request}"
        );
    }
}
