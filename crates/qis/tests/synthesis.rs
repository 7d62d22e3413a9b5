//! Synthesis properties: floods, double counting, provenance, and the numbers of each method.

use std::sync::Arc;
use std::time::Duration;

use qis::packet::{Address, Outcome, Packet, PacketId, ResultValue};
use qis::router::Hit;
use qis::synth::{
    Bayesian, FieldInsight, Frequency, Insight, Method, Options, PerAgent, Synthesizer, Weighted,
};

const NOW: u64 = 1_800_000_000_000;
const DAY: u64 = 24 * 3600 * 1000;

fn addr() -> Address {
    Address::from_hex("00112233445566778899aabbccddeeff").unwrap()
}

fn packet(agent: &str, protocol: &str, dose: f64, outcome: Outcome, confidence: f32) -> Packet {
    Packet::builder(agent, "d", addr())
        .outcome(outcome)
        .confidence(confidence)
        .result("protocol", protocol)
        .result("dose", dose)
        .created(NOW - 1000)
        .build()
        .unwrap()
}

fn hits(packets: impl IntoIterator<Item = Packet>) -> Vec<Hit> {
    packets
        .into_iter()
        .map(|p| Hit {
            packet: Arc::new(p),
            score: 1.0,
        })
        .collect()
}

fn winner(insight: &Insight, field: &str) -> ResultValue {
    insight.best.as_ref().unwrap()[field].clone()
}

fn honest() -> Vec<Packet> {
    (0..10)
        .map(|i| {
            let protocol = if i < 6 { "weekly" } else { "daily" };
            packet(&format!("site_{i}"), protocol, 1.0, Outcome::Resolved, 0.8)
        })
        .collect()
}

fn all_methods(options: Options) -> Vec<Box<dyn Synthesizer>> {
    Method::ALL.iter().map(|m| m.synthesizer(options)).collect()
}

/// The same insight but for rounding (a flood's shares sum to 1 only up to float error).
fn assert_close(a: &Insight, b: &Insight) {
    let (x, y) = (a.best.as_ref().unwrap(), b.best.as_ref().unwrap());
    assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
    for (k, v) in x {
        match (v, &y[k]) {
            (ResultValue::Number(p), ResultValue::Number(q)) => {
                assert!((p - q).abs() < 1e-9, "{k}: {p} vs {q}")
            }
            (p, q) => assert_eq!(p, q, "{k}"),
        }
    }
    assert!((a.confidence - b.confidence).abs() < 1e-9);
    assert_eq!(
        a.fields.keys().collect::<Vec<_>>(),
        b.fields.keys().collect::<Vec<_>>()
    );
}

/// A 1,000-packet flood from one agent weighs what one packet from that agent weighs.
#[test]
fn a_flood_from_one_agent_counts_as_one_vote() {
    let flood: Vec<Packet> = (0..1000)
        .map(|_| packet("flooder", "daily", 9.0, Outcome::Contradicted, 0.8))
        .collect();
    let with_flood = hits(honest().into_iter().chain(flood));
    let with_one = hits(honest().into_iter().chain([packet(
        "flooder",
        "daily",
        9.0,
        Outcome::Contradicted,
        0.8,
    )]));
    for per_agent in [PerAgent::Split, PerAgent::Newest] {
        for synth in all_methods(Options {
            per_agent,
            half_life: None,
        }) {
            let flooded = synth.synthesize_at(&with_flood, NOW);
            let single = synth.synthesize_at(&with_one, NOW);
            assert_eq!(flooded.agents, 11);
            assert_eq!(
                winner(&flooded, "protocol"),
                ResultValue::from("weekly"),
                "{:?} {per_agent:?}",
                synth.method()
            );
            assert_close(&flooded, &single);
            if let (Some(a), Some(b)) = (flooded.success, single.success) {
                assert!((a.mean - b.mean).abs() < 1e-9);
            }
        }
    }
    // The frequency view: 6 of 11 votes, as without the flood.
    let f = Frequency(Options::default()).synthesize_at(&with_flood, NOW);
    assert!((f.consensus_rate.unwrap() - 6.0 / 11.0).abs() < 1e-12);
    // Without the per-agent rule (the seed's counting), the flood wins: the rule is what holds.
    let seed_like = Frequency(Options {
        per_agent: PerAgent::All,
        half_life: None,
    })
    .synthesize_at(&with_flood, NOW);
    assert_eq!(winner(&seed_like, "protocol"), ResultValue::from("daily"));
}

/// A derived packet whose sources are present is skipped; alone, it speaks for them once.
#[test]
fn derived_packets_never_double_count_their_sources() {
    let originals = honest();
    let sources: Vec<PacketId> = originals.iter().map(Packet::id).collect();
    let derived = Packet::builder("synth_node", "d", addr())
        .outcome(Outcome::Resolved)
        .confidence(0.9)
        .result("protocol", "weekly")
        .result("dose", 1.0)
        .derived_from(sources[..8].to_vec())
        .created(NOW - 10)
        .build()
        .unwrap();
    let overlapping = Packet::builder("synth_node_2", "d", addr())
        .confidence(0.9)
        .result("protocol", "daily")
        .derived_from(vec![sources[7], sources[9]])
        .created(NOW - 5)
        .build()
        .unwrap();
    for synth in all_methods(Options::default()) {
        let plain = synth.synthesize_at(&hits(originals.clone()), NOW);
        let mixed = synth.synthesize_at(
            &hits(
                [derived.clone(), overlapping.clone()]
                    .into_iter()
                    .chain(originals.clone()),
            ),
            NOW,
        );
        assert_eq!(mixed.skipped_derived, 2);
        assert_eq!(mixed.sample_size, plain.sample_size);
        assert_eq!(mixed.agents, plain.agents);
        assert_eq!(mixed.best, plain.best);
        assert_eq!(
            mixed.used, plain.used,
            "the insight lists exactly the originals"
        );

        // Only derived packets: the first counts; the second overlaps it (source 7) and is skipped.
        let only_derived = synth.synthesize_at(&hits([derived.clone(), overlapping.clone()]), NOW);
        assert_eq!(only_derived.used, vec![derived.id()]);
        assert_eq!(only_derived.skipped_derived, 1);
    }
}

#[test]
fn insights_list_the_packets_they_used() {
    let originals = honest();
    let insight = Weighted(Options::default()).synthesize_at(&hits(originals.clone()), NOW);
    assert_eq!(
        insight.used,
        originals.iter().map(Packet::id).collect::<Vec<_>>()
    );
    let newest = Frequency(Options {
        per_agent: PerAgent::Newest,
        half_life: None,
    });
    let mut twice = originals.clone();
    let newer = Packet::builder("site_0", "d", addr())
        .result("protocol", "daily")
        .created(NOW)
        .build()
        .unwrap();
    twice.push(newer.clone());
    let insight = newest.synthesize_at(&hits(twice), NOW);
    assert!(insight.used.contains(&newer.id()) && !insight.used.contains(&originals[0].id()));
    assert_eq!(insight.sample_size, 10);
}

#[test]
fn nothing_to_synthesize_gives_an_empty_insight() {
    for synth in all_methods(Options::default()) {
        let insight = synth.synthesize_at(&[], NOW);
        assert_eq!(
            (insight.best, insight.sample_size, insight.agents),
            (None, 0, 0)
        );
    }
}

#[test]
fn weights_are_confidence_times_similarity_times_recency() {
    let options = Options {
        per_agent: PerAgent::Split,
        half_life: Some(Duration::from_millis(DAY)),
    };
    let make = |agent: &str, dose: f64, confidence: f32, age: u64| {
        Packet::builder(agent, "d", addr())
            .confidence(confidence)
            .result("dose", dose)
            .created(NOW - age)
            .build()
            .unwrap()
    };
    let mean = |hits: &[Hit]| match &Weighted(options).synthesize_at(hits, NOW).fields["dose"] {
        FieldInsight::Numeric { mean, .. } => *mean,
        other => panic!("{other:?}"),
    };
    // Recency: one half-life old weighs half: (1·1 + 0.5·0) / 1.5.
    let h = hits([make("a", 1.0, 1.0, 0), make("b", 0.0, 1.0, DAY)]);
    assert!((mean(&h) - 2.0 / 3.0).abs() < 1e-9);
    // Confidence: 0.25 against 1.0.
    let h = hits([make("a", 1.0, 1.0, 0), make("b", 0.0, 0.25, 0)]);
    assert!((mean(&h) - 0.8).abs() < 1e-9);
    // Similarity: a vector hit's score scales its weight.
    let mut h = hits([make("a", 1.0, 1.0, 0), make("b", 0.0, 1.0, 0)]);
    h[1].score = 0.5;
    assert!((mean(&h) - 2.0 / 3.0).abs() < 1e-9);
}

#[test]
fn bayesian_posteriors_are_right() {
    let outcomes = [Outcome::Resolved; 8]
        .into_iter()
        .chain([Outcome::Contradicted; 2]);
    let packets: Vec<Packet> = outcomes
        .enumerate()
        .map(|(i, o)| packet(&format!("s{i}"), "weekly", 1.0 + i as f64 / 10.0, o, 1.0))
        .collect();
    let insight = Bayesian(Options {
        half_life: None,
        ..Options::default()
    })
    .synthesize_at(&hits(packets), NOW);
    let s = insight.success.unwrap();
    assert_eq!((s.alpha, s.beta), (9.0, 3.0));
    assert!((s.mean - 0.75).abs() < 1e-12);
    // Beta(9, 3): the 95 % equal-tailed interval is about (0.482, 0.940).
    assert!(
        (s.interval.0 - 0.482).abs() < 0.01 && (s.interval.1 - 0.940).abs() < 0.01,
        "{s:?}"
    );
    match &insight.fields["dose"] {
        FieldInsight::Numeric {
            mean,
            interval: Some((lo, hi)),
            n,
            ..
        } => {
            // Doses 1.0..1.9: mean 1.45, sd 0.3028, t(0.975, 9) = 2.262 → ±0.2166.
            assert_eq!(*n, 10);
            assert!((mean - 1.45).abs() < 1e-9);
            assert!(
                (lo - (1.45 - 0.2166)).abs() < 1e-3 && (hi - (1.45 + 0.2166)).abs() < 1e-3,
                "{lo} {hi}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(insight.outcome, Some(Outcome::Resolved));
}

#[test]
fn per_agent_names_round_trip_and_a_wrong_one_lists_all_three() {
    for p in PerAgent::ALL {
        assert_eq!(p.as_str().parse::<PerAgent>().unwrap(), p);
        assert_eq!(p.to_string(), p.as_str());
        assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
    }
    let e = "both".parse::<PerAgent>().unwrap_err().to_string();
    assert!(
        e.contains("split") && e.contains("newest") && e.contains("all"),
        "{e}"
    );
}

/// A node's trust scales each agent's vote: weighed 0, an agent's packets do not count, and the
/// answer changes under every method; weighed 1, nothing changes.
#[test]
fn a_weighed_out_agent_does_not_count() {
    let hits = hits(honest()); // 6 say weekly, 4 daily
    let liars = |agent: &str| {
        let i: usize = agent.trim_start_matches("site_").parse().unwrap();
        if i < 6 { 0.0 } else { 1.0 }
    };
    for s in all_methods(Options::default()) {
        let whole = s.synthesize_at(&hits, NOW);
        assert_close(&whole, &s.synthesize_weighing(&hits, NOW, &|_| 1.0));
        let weighed = s.synthesize_weighing(&hits, NOW, &liars);
        assert_eq!(
            winner(&whole, "protocol"),
            "weekly".into(),
            "{:?}",
            s.method()
        );
        assert_eq!(
            winner(&weighed, "protocol"),
            "daily".into(),
            "{:?}",
            s.method()
        );
        assert_eq!(
            (weighed.agents, weighed.sample_size),
            (4, 4),
            "{:?}",
            s.method()
        );
    }
}
