//! How packets, hits and insights look on a terminal.

use qis::packet::ResultMap;
use qis::router::Hit;
use qis::synth::{FieldInsight, Insight};

/// A result map as compact JSON, keys sorted.
pub fn result(r: &ResultMap) -> String {
    serde_json::to_string(r).unwrap_or_default()
}

/// One line per hit: score, agent, outcome, confidence, result, summary.
pub fn hits(hits: &[Hit]) {
    for h in hits {
        let p = &h.packet;
        println!(
            "{:.3}  {:<16} {:<12} {:.2}  {}  {}",
            h.score,
            p.agent(),
            p.outcome(),
            p.confidence(),
            result(p.result()),
            p.summary()
        );
    }
}

/// An insight, field by field.
pub fn insight(insight: &Insight) {
    println!(
        "{} synthesis: {} packets from {} agents (confidence {:.2}{})",
        insight.method,
        insight.sample_size,
        insight.agents,
        insight.confidence,
        if insight.skipped_derived > 0 {
            format!(
                "; {} derived packets skipped, their sources are counted",
                insight.skipped_derived
            )
        } else {
            String::new()
        }
    );
    match &insight.best {
        Some(best) => println!("  best-supported result: {}", result(best)),
        None => println!("  no packets to synthesize"),
    }
    if let Some(rate) = insight.consensus_rate {
        println!("  consensus rate: {:.0}%", rate * 100.0);
    }
    for (name, field) in &insight.fields {
        match field {
            FieldInsight::Numeric {
                mean,
                spread,
                interval,
                n,
            } => match interval {
                Some((lo, hi)) => println!(
                    "  {name:<16} mean {mean:.3} ± {spread:.3} (95% credible interval {lo:.3} to {hi:.3}; n={n})"
                ),
                None => println!("  {name:<16} mean {mean:.3} ± {spread:.3} (n={n})"),
            },
            FieldInsight::Categorical {
                winner, share, n, ..
            } => {
                println!(
                    "  {name:<16} {winner} with {:.0}% of the weight (n={n})",
                    share * 100.0
                )
            }
        }
    }
    if let Some(s) = &insight.success {
        println!(
            "  {:<16} {:.2} (95% credible interval {:.2} to {:.2}; Beta({:.2}, {:.2}))",
            "P(resolved)", s.mean, s.interval.0, s.interval.1, s.alpha, s.beta
        );
    }
}
