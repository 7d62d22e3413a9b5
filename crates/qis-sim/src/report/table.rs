//! The report as text, for stdout.

use std::fmt::Write as _;

use super::{Report, Stat, cap_str, per_agent_str};
use crate::world::K;

impl Report {
    /// The report as text, for stdout. Deterministic: no timing in it.
    pub fn table(&self) -> String {
        let c = &self.config;
        let mut s = String::new();
        let w = &mut s;
        let _ = writeln!(
            w,
            "qis simulate: {} sweep, seed {}; policies: isolated, qis, central",
            if c.quick { "quick" } else { "full" },
            c.seed
        );
        let _ = writeln!(
            w,
            "world: 24 contexts (3 routing fields, 0.25 % to 22.5 % of problems), {K} options with hidden \
             success rates; random choice regret {}",
            f4(self.random_regret)
        );
        let _ = writeln!(
            w,
            "decision rule: Thompson sampling on Beta(1 + successes, 1 + failures) for every policy; \
             qis agents add peers' evidence from {} packets per option (limit)",
            c.limit
        );

        let _ = writeln!(
            w,
            "\n## Regret per decision versus N (exact routing, {} rounds; mean ± 95 % CI over replicates)",
            c.rounds
        );
        let _ = writeln!(
            w,
            "{:>6}  {:<8}  {:<9}  {:>4}  {:>17}  {:>12}  {:>11}  {:>14}  {:>14}",
            "agents",
            "policy",
            "synth",
            "reps",
            "regret/decision",
            "regret/agent",
            "best-option",
            "peers/decision",
            "pairs N(N-1)/2"
        );
        for r in &self.regret {
            let pairs = (r.agents as u128 * (r.agents as u128).saturating_sub(1)) / 2;
            let _ = writeln!(
                w,
                "{:>6}  {:<8}  {:<9}  {:>4}  {:>17}  {:>12}  {:>11}  {:>14}  {:>14}",
                r.agents,
                r.policy.as_str(),
                r.synth.map_or("-", |m| m.as_str()),
                r.replicates,
                pm(r.regret),
                f3(r.regret.mean * c.rounds as f64),
                f3(r.best.mean),
                f1(r.peer_agents),
                pairs
            );
        }

        let _ = writeln!(
            w,
            "\n## Cold start: a tenth of {} agents join at round {} (regret per decision by rounds since joining)",
            c.cold_start_agents,
            c.rounds / 2
        );
        let series: Vec<&str> = dedup(self.cold_start.iter().map(|r| r.series));
        let _ = write!(w, "{:>4}", "age");
        for name in &series {
            let _ = write!(w, "  {name:>12}");
        }
        let _ = writeln!(w);
        let ages = self.cold_start.iter().map(|r| r.age + 1).max().unwrap_or(0);
        for age in 0..ages {
            let _ = write!(w, "{age:>4}");
            for name in &series {
                let v = self
                    .cold_start
                    .iter()
                    .find(|r| r.series == *name && r.age == age)
                    .map_or(f64::NAN, |r| r.regret);
                let _ = write!(w, "  {:>12}", f4(v));
            }
            let _ = writeln!(w);
        }
        let _ = writeln!(
            w,
            "newcomers' first consultation synthesized {} distinct peers (over {K} options)",
            f1(self.newcomer_first_peers)
        );

        let _ = writeln!(
            w,
            "\n## Routing cost ({} rounds; memory router; bytes are MessagePack)",
            c.cost_rounds
        );
        let _ = writeln!(
            w,
            "{:<7}  {:>6}  {:>9}  {:>10}  {:>14}  {:>11}  {:>9}  {:>13}  {:>12}  {:>8}  {:>8}",
            "routing",
            "agents",
            "hits/query",
            "bytes/query",
            "examined/query",
            "queries/dec",
            "stored",
            "sent B/agent",
            "recv B/agent",
            "regret",
            "central"
        );
        for r in &self.routing {
            let _ = writeln!(
                w,
                "{:<7}  {:>6}  {:>9}  {:>10}  {:>14}  {:>11}  {:>9}  {:>13}  {:>12}  {:>8}  {:>8}",
                r.routing.as_str(),
                r.agents,
                f1(r.hits_per_query),
                f0(r.bytes_per_query),
                f1(r.examined_per_query),
                f1(r.queries_per_decision),
                r.packets_stored,
                f0(r.deposited_per_agent),
                f0(r.received_per_agent),
                f4(r.regret),
                f4(r.central_regret)
            );
        }

        let _ = writeln!(
            w,
            "\n## Dishonest agents ({} agents; liars invert every outcome and claim confidence 1.0, \
             honest agents say {}; honest agents' regret)",
            c.robustness_agents,
            crate::policy::QisConfig::default().honest_confidence
        );
        let _ = writeln!(
            w,
            "{:>9}  {:<8}  {:<9}  {:>17}  {:>11}",
            "dishonest", "policy", "synth", "regret/decision", "best-option"
        );
        for r in &self.dishonest {
            let _ = writeln!(
                w,
                "{:>9}  {:<8}  {:<9}  {:>17}  {:>11}",
                f2(r.dishonest),
                r.policy.as_str(),
                r.synth.map_or("-", |m| m.as_str()),
                pm(r.regret),
                f3(r.best.mean)
            );
        }

        let _ = writeln!(
            w,
            "\n## One flooding agent ({} agents; packets per round at each option of the most common \
             context, pushing its worst option)",
            c.robustness_agents
        );
        let _ = writeln!(
            w,
            "{:<9}  {:>13}  {:>6}  {:>17}  {:>17}  {:>17}",
            "per-agent",
            "max per agent",
            "flood",
            "flooded regret",
            "flooded best late",
            "all regret"
        );
        for r in &self.flood {
            let _ = writeln!(
                w,
                "{:<9}  {:>13}  {:>6}  {:>17}  {:>17}  {:>17}",
                per_agent_str(r.per_agent),
                cap_str(r.max_per_agent),
                r.flood,
                pm(r.flooded_regret),
                pm(r.flooded_best_late),
                pm(r.regret)
            );
        }

        let _ = writeln!(w, "\n## Feedback loop (re-depositing synthesized packets)");
        let _ = writeln!(
            w,
            "{:>6}  {:<9}  {:<8}  {:>17}  {:>14}  {:>13}  {:>15}  {:>14}",
            "agents",
            "synth",
            "feedback",
            "regret/decision",
            "packets/agent",
            "bytes/agent",
            "skipped/query",
            "packets/dec"
        );
        for r in &self.feedback {
            let _ = writeln!(
                w,
                "{:>6}  {:<9}  {:<8}  {:>17}  {:>14}  {:>13}  {:>15}  {:>14}",
                r.agents,
                r.synth.as_str(),
                if r.feedback { "on" } else { "off" },
                pm(r.regret),
                f1(r.packets_per_agent),
                f0(r.bytes_per_agent),
                f2(r.skipped_per_query),
                f1(r.peer_packets)
            );
        }
        s
    }
}

fn dedup<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

fn fmt_or_dash(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "-".into()
    }
}
fn f0(x: f64) -> String {
    fmt_or_dash(x, 0)
}
fn f1(x: f64) -> String {
    fmt_or_dash(x, 1)
}
fn f2(x: f64) -> String {
    fmt_or_dash(x, 2)
}
fn f3(x: f64) -> String {
    fmt_or_dash(x, 3)
}
fn f4(x: f64) -> String {
    fmt_or_dash(x, 4)
}
fn pm(s: Stat) -> String {
    if s.ci.is_finite() {
        format!("{:.4} ± {:.4}", s.mean, s.ci)
    } else {
        f4(s.mean)
    }
}
