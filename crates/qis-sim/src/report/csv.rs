//! The report as CSV files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{Report, cap_str, per_agent_str};
use crate::{Error, Result};

impl Report {
    /// Writes the CSV files into `dir` (created if missing); returns their paths.
    pub fn write_csv(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_owned(),
            source,
        })?;
        let mut written = Vec::new();
        let mut file = |name: &str, text: String| -> Result<()> {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            written.push(path);
            Ok(())
        };

        let mut t = String::from(
            "agents,policy,synth,replicates,rounds,regret_per_decision,regret_ci95,best_option_rate,peer_agents_per_decision,peer_packets_per_decision,pairs\n",
        );
        for r in &self.regret {
            let pairs = (r.agents as u128 * (r.agents as u128).saturating_sub(1)) / 2;
            let _ = writeln!(
                t,
                "{},{},{},{},{},{},{},{},{},{},{}",
                r.agents,
                r.policy,
                r.synth.map_or("", |m| m.as_str()),
                r.replicates,
                self.config.rounds,
                c6(r.regret.mean),
                c6(r.regret.ci),
                c6(r.best.mean),
                c6(r.peer_agents),
                c6(r.peer_packets),
                pairs
            );
        }
        file("regret_vs_n.csv", t)?;

        let mut t = String::from("series,age,regret_per_decision,decisions\n");
        for r in &self.cold_start {
            let _ = writeln!(t, "{},{},{},{}", r.series, r.age, c6(r.regret), r.decisions);
        }
        file("cold_start.csv", t)?;

        let mut t = String::from(
            "routing,agents,rounds,queries_per_decision,hits_per_query,bytes_per_query,examined_per_query,packets_stored,bytes_deposited_per_agent,bytes_received_per_agent,regret_per_decision,central_regret_per_decision\n",
        );
        let mut timing = String::from(
            "# wall-clock time inside MemoryRouter::query; NOT deterministic (machine, load)\nrouting,agents,rounds,ns_per_query,ns_per_examined_packet\n",
        );
        for r in &self.routing {
            let _ = writeln!(
                t,
                "{},{},{},{},{},{},{},{},{},{},{},{}",
                r.routing,
                r.agents,
                r.rounds,
                c6(r.queries_per_decision),
                c6(r.hits_per_query),
                c6(r.bytes_per_query),
                c6(r.examined_per_query),
                r.packets_stored,
                c6(r.deposited_per_agent),
                c6(r.received_per_agent),
                c6(r.regret),
                c6(r.central_regret)
            );
            let _ = writeln!(
                timing,
                "{},{},{},{:.0},{:.2}",
                r.routing,
                r.agents,
                r.rounds,
                r.nanos_per_query,
                r.nanos_per_query / r.examined_per_query.max(1.0)
            );
        }
        file("routing_cost.csv", t)?;
        file("timing.csv", timing)?;

        let mut t = String::from(
            "dishonest,policy,synth,honest_regret_per_decision,regret_ci95,best_option_rate\n",
        );
        for r in &self.dishonest {
            let _ = writeln!(
                t,
                "{},{},{},{},{},{}",
                r.dishonest,
                r.policy,
                r.synth.map_or("", |m| m.as_str()),
                c6(r.regret.mean),
                c6(r.regret.ci),
                c6(r.best.mean)
            );
        }
        file("dishonest.csv", t)?;

        let mut t = String::from(
            "per_agent,max_per_agent,flood,flooded_regret,flooded_regret_ci95,flooded_best_late,flooded_best_late_ci95,regret,regret_ci95\n",
        );
        for r in &self.flood {
            let _ = writeln!(
                t,
                "{},{},{},{},{},{},{},{},{}",
                per_agent_str(r.per_agent),
                cap_str(r.max_per_agent),
                r.flood,
                c6(r.flooded_regret.mean),
                c6(r.flooded_regret.ci),
                c6(r.flooded_best_late.mean),
                c6(r.flooded_best_late.ci),
                c6(r.regret.mean),
                c6(r.regret.ci)
            );
        }
        file("flood.csv", t)?;

        let mut t = String::from(
            "agents,synth,feedback,regret_per_decision,regret_ci95,packets_per_agent,bytes_per_agent,derived_skipped_per_query,packets_per_decision\n",
        );
        for r in &self.feedback {
            let _ = writeln!(
                t,
                "{},{},{},{},{},{},{},{},{}",
                r.agents,
                r.synth,
                if r.feedback { "on" } else { "off" },
                c6(r.regret.mean),
                c6(r.regret.ci),
                c6(r.packets_per_agent),
                c6(r.bytes_per_agent),
                c6(r.skipped_per_query),
                c6(r.peer_packets)
            );
        }
        file("feedback.csv", t)?;
        Ok(written)
    }
}

/// CSV numbers: six decimals, empty when undefined.
fn c6(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.6}")
    } else {
        String::new()
    }
}
