//! SVG plots of a [`Report`], drawn with `plotters` (SVG backend: text is left to the viewer, so no
//! system fonts are needed, and the same report gives the same bytes).

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::prelude::*;
use qis::synth::{Method, PerAgent};

use crate::policy::{Policy, Routing};
use crate::report::{Report, per_agent_str};
use crate::{Error, Result};

/// One line of a chart.
#[derive(Clone, Debug)]
struct Series {
    name: String,
    points: Vec<(f64, f64)>,
    color: RGBColor,
}

/// One chart: its series and how its axes are drawn.
#[derive(Clone, Debug)]
struct Chart {
    title: String,
    x_desc: String,
    y_desc: String,
    x_log: bool,
    y_log: bool,
    /// Whether the y axis starts at zero (linear axes only).
    y_zero: bool,
    /// Categories: x values are their indices, labelled with these (linear x axis).
    x_labels: Option<Vec<String>>,
    /// Where the legend goes.
    legend: SeriesLabelPosition,
    series: Vec<Series>,
}

const COLORS: [RGBColor; 8] = [
    RGBColor(0x4c, 0x72, 0xb0),
    RGBColor(0xdd, 0x84, 0x52),
    RGBColor(0x55, 0xa8, 0x68),
    RGBColor(0xc4, 0x4e, 0x52),
    RGBColor(0x81, 0x72, 0xb3),
    RGBColor(0x93, 0x78, 0x60),
    RGBColor(0xda, 0x8b, 0xc3),
    RGBColor(0x8c, 0x8c, 0x8c),
];

fn policy_color(policy: Policy, synth: Option<Method>) -> RGBColor {
    match (policy, synth) {
        (Policy::Isolated, _) => COLORS[3],
        (Policy::Central, _) => COLORS[7],
        (_, Some(Method::Frequency)) => COLORS[1],
        (_, Some(Method::Weighted)) => COLORS[2],
        _ => COLORS[0],
    }
}

fn series_name(policy: Policy, synth: Option<Method>) -> String {
    match synth {
        Some(m) => format!("{policy} ({m})"),
        None => policy.to_string(),
    }
}

/// Draws every plot of `report` into `dir`; returns the paths written.
pub fn write_all(report: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut written = Vec::new();
    let mut save = |name: &str, charts: Vec<Chart>| -> Result<()> {
        let path = dir.join(name);
        draw(&path, &charts).map_err(|message| Error::Plot {
            path: path.clone(),
            message,
        })?;
        written.push(path);
        Ok(())
    };

    // Regret versus N.
    let mut keys: Vec<(Policy, Option<Method>)> = Vec::new();
    for r in &report.regret {
        if !keys.contains(&(r.policy, r.synth)) {
            keys.push((r.policy, r.synth));
        }
    }
    let regret_series = keys
        .iter()
        .map(|&(p, m)| Series {
            name: series_name(p, m),
            points: report
                .regret
                .iter()
                .filter(|r| (r.policy, r.synth) == (p, m))
                .map(|r| (r.agents as f64, r.regret.mean))
                .collect(),
            color: policy_color(p, m),
        })
        .collect();
    save(
        "regret_vs_n.svg",
        vec![Chart {
            title: format!(
                "Regret per decision vs N ({} rounds, exact routing)",
                report.config.rounds
            ),
            x_desc: "agents N".into(),
            y_desc: "expected regret per decision (log scale)".into(),
            x_log: true,
            y_log: true,
            y_zero: false,
            x_labels: None,
            legend: SeriesLabelPosition::LowerLeft,
            series: regret_series,
        }],
    )?;

    // What "N(N-1)/2 synthesis opportunities" turns into per decision.
    let mut peers = vec![Series {
        name: "pairs N(N-1)/2".into(),
        points: report
            .regret
            .iter()
            .filter(|r| r.policy == Policy::Isolated && r.agents > 1)
            .map(|r| (r.agents as f64, (r.agents * (r.agents - 1)) as f64 / 2.0))
            .collect(),
        color: COLORS[7],
    }];
    peers.push(Series {
        name: "peers per agent N-1".into(),
        points: report
            .regret
            .iter()
            .filter(|r| r.policy == Policy::Isolated && r.agents > 1)
            .map(|r| (r.agents as f64, (r.agents - 1) as f64))
            .collect(),
        color: COLORS[5],
    });
    for &(p, m) in keys.iter().filter(|(p, _)| *p == Policy::Qis) {
        peers.push(Series {
            name: format!(
                "peer votes synthesized per decision ({})",
                series_name(p, m)
            ),
            points: report
                .regret
                .iter()
                .filter(|r| (r.policy, r.synth) == (p, m) && r.peer_agents > 0.0)
                .map(|r| (r.agents as f64, r.peer_agents))
                .collect(),
            color: policy_color(p, m),
        });
    }
    save(
        "peers.svg",
        vec![Chart {
            title: "Synthesis opportunities vs what one decision synthesizes".into(),
            x_desc: "agents N".into(),
            y_desc: "count (log)".into(),
            x_log: true,
            y_log: true,
            y_zero: false,
            x_labels: None,
            legend: SeriesLabelPosition::UpperLeft,
            series: peers,
        }],
    )?;

    // Cold start.
    let mut names: Vec<&str> = Vec::new();
    for r in &report.cold_start {
        if !names.contains(&r.series) {
            names.push(r.series);
        }
    }
    let cold = names
        .iter()
        .map(|&name| Series {
            name: match name {
                "qis-founders" => "qis founders (started with no peers)".into(),
                other => format!("{other} newcomers"),
            },
            points: report
                .cold_start
                .iter()
                .filter(|r| r.series == name && r.regret.is_finite())
                .map(|r| (r.age as f64, r.regret))
                .collect(),
            color: match name {
                "isolated" => COLORS[3],
                "central" => COLORS[7],
                "qis" => COLORS[0],
                _ => COLORS[4],
            },
        })
        .collect();
    save(
        "cold_start.svg",
        vec![Chart {
            title: format!(
                "Cold start: newcomers joining {} agents at round {}",
                report.config.cold_start_agents,
                report.config.rounds / 2
            ),
            x_desc: "rounds since the agent started".into(),
            y_desc: "expected regret per decision (log scale)".into(),
            x_log: false,
            y_log: true,
            y_zero: false,
            x_labels: None,
            legend: SeriesLabelPosition::MiddleRight,
            series: cold,
        }],
    )?;

    // Routing cost.
    let routing_series = |f: &dyn Fn(&crate::report::RoutingRow) -> f64, what: &str| {
        Routing::ALL
            .iter()
            .enumerate()
            .filter_map(|(i, &routing)| {
                let points: Vec<(f64, f64)> = report
                    .routing
                    .iter()
                    .filter(|r| r.routing == routing && f(r) > 0.0)
                    .map(|r| (r.agents as f64, f(r)))
                    .collect();
                (!points.is_empty()).then(|| Series {
                    name: format!("{routing} {what}"),
                    points,
                    color: COLORS[i * 3],
                })
            })
            .collect::<Vec<_>>()
    };
    let mut cost = routing_series(&|r| r.examined_per_query, "packets examined");
    for mut s in routing_series(&|r| r.hits_per_query, "packets returned") {
        s.color = if s.name.starts_with("exact") {
            COLORS[1]
        } else {
            COLORS[4]
        };
        cost.push(s);
    }
    let mut bytes = routing_series(&|r| r.deposited_per_agent, "sent");
    for mut s in routing_series(&|r| r.received_per_agent, "received") {
        s.color = if s.name.starts_with("exact") {
            COLORS[1]
        } else {
            COLORS[4]
        };
        bytes.push(s);
    }
    let cost_rounds = report.config.cost_rounds;
    let mut regret = routing_series(&|r| r.regret, "qis (bayesian)");
    if report.config.main_method() != Method::Bayesian {
        for s in &mut regret {
            s.name = s
                .name
                .replace("bayesian", report.config.main_method().as_str());
        }
    }
    regret.push(Series {
        name: "central".into(),
        points: report
            .routing
            .iter()
            .filter(|r| r.routing == Routing::Exact)
            .map(|r| (r.agents as f64, r.central_regret))
            .collect(),
        color: COLORS[7],
    });
    save(
        "routing_cost.svg",
        vec![
            Chart {
                title: format!("Router work per query ({cost_rounds} rounds)"),
                x_desc: "agents N".into(),
                y_desc: "packets per query (log)".into(),
                x_log: true,
                y_log: true,
                y_zero: false,
                x_labels: None,
                legend: SeriesLabelPosition::UpperLeft,
                series: cost,
            },
            Chart {
                title: format!("Bytes per agent over {cost_rounds} rounds"),
                x_desc: "agents N".into(),
                y_desc: "bytes per agent (log)".into(),
                x_log: true,
                y_log: true,
                y_zero: false,
                x_labels: None,
                legend: SeriesLabelPosition::UpperLeft,
                series: bytes,
            },
            Chart {
                title: format!("Regret per decision ({cost_rounds} rounds)"),
                x_desc: "agents N".into(),
                y_desc: "expected regret per decision (log scale)".into(),
                x_log: true,
                y_log: true,
                y_zero: false,
                x_labels: None,
                legend: SeriesLabelPosition::UpperRight,
                series: regret,
            },
        ],
    )?;

    // Robustness.
    let mut keys: Vec<(Policy, Option<Method>)> = Vec::new();
    for r in &report.dishonest {
        if !keys.contains(&(r.policy, r.synth)) {
            keys.push((r.policy, r.synth));
        }
    }
    let liars = keys
        .iter()
        .map(|&(p, m)| Series {
            name: series_name(p, m),
            points: report
                .dishonest
                .iter()
                .filter(|r| (r.policy, r.synth) == (p, m))
                .map(|r| (r.dishonest, r.regret.mean))
                .collect(),
            color: policy_color(p, m),
        })
        .collect();
    let mut volumes: Vec<usize> = Vec::new();
    for r in &report.flood {
        if !volumes.contains(&r.flood) {
            volumes.push(r.flood);
        }
    }
    let flood_labels: Vec<String> = volumes.iter().map(|v| v.to_string()).collect();
    let mut kinds: Vec<(PerAgent, Option<usize>)> = Vec::new();
    for r in &report.flood {
        if !kinds.contains(&(r.per_agent, r.max_per_agent)) {
            kinds.push((r.per_agent, r.max_per_agent));
        }
    }
    let floods = kinds
        .iter()
        .enumerate()
        .map(|(i, &(per_agent, cap))| Series {
            name: format!(
                "{}, {}",
                match per_agent {
                    PerAgent::All => "every packet a vote".to_owned(),
                    other => format!("one vote per agent ({})", per_agent_str(other)),
                },
                cap.map_or_else(|| "no cap".to_owned(), |m| format!("at most {m} per agent"))
            ),
            points: report
                .flood
                .iter()
                .filter(|r| (r.per_agent, r.max_per_agent) == (per_agent, cap))
                .map(|r| {
                    let at = volumes.iter().position(|&v| v == r.flood).unwrap_or(0);
                    (at as f64, r.flooded_best_late.mean)
                })
                .collect(),
            color: COLORS[i % COLORS.len()],
        })
        .collect();
    save(
        "robustness.svg",
        vec![
            Chart {
                title: format!(
                    "Dishonest agents ({} agents): honest agents' regret",
                    report.config.robustness_agents
                ),
                x_desc: "share of dishonest agents".into(),
                y_desc: "expected regret per decision (log scale)".into(),
                x_log: false,
                y_log: true,
                y_zero: false,
                x_labels: None,
                legend: SeriesLabelPosition::UpperLeft,
                series: liars,
            },
            Chart {
                title: "One flooding agent: best option kept in the flooded context".into(),
                x_desc: "flood packets per round at each option's address".into(),
                y_desc: "share choosing the best option (late rounds)".into(),
                x_log: false,
                y_log: false,
                y_zero: true,
                x_labels: Some(flood_labels),
                legend: SeriesLabelPosition::LowerLeft,
                series: floods,
            },
        ],
    )?;

    // Feedback.
    let mut keys: Vec<(Method, bool)> = Vec::new();
    for r in &report.feedback {
        if !keys.contains(&(r.synth, r.feedback)) {
            keys.push((r.synth, r.feedback));
        }
    }
    let fb = keys
        .iter()
        .map(|&(m, on)| Series {
            name: format!("qis ({m}), feedback {}", if on { "on" } else { "off" }),
            points: report
                .feedback
                .iter()
                .filter(|r| (r.synth, r.feedback) == (m, on))
                .map(|r| (r.agents as f64, r.regret.mean))
                .collect(),
            color: {
                let c = policy_color(Policy::Qis, Some(m));
                if on {
                    RGBColor(c.0 / 2, c.1 / 2, c.2 / 2)
                } else {
                    c
                }
            },
        })
        .collect();
    save(
        "feedback.svg",
        vec![Chart {
            title: "Feedback loop: re-depositing synthesized packets".into(),
            x_desc: "agents N".into(),
            y_desc: "expected regret per decision (log scale)".into(),
            x_log: true,
            y_log: true,
            y_zero: false,
            x_labels: None,
            legend: SeriesLabelPosition::UpperRight,
            series: fb,
        }],
    )?;
    Ok(written)
}

/// One line of a [`LogLogChart`]: its name in the legend and its points.
#[derive(Clone, Debug)]
pub struct Line {
    /// The legend's name.
    pub name: String,
    /// (x, y) points; those not positive are left out (the axes are logarithmic).
    pub points: Vec<(f64, f64)>,
}

/// A chart whose axes are both logarithmic: how costs grow with a size.
#[derive(Clone, Debug)]
pub struct LogLogChart {
    /// The caption.
    pub title: String,
    /// The x axis' description.
    pub x_desc: String,
    /// The y axis' description.
    pub y_desc: String,
    /// The lines.
    pub lines: Vec<Line>,
}

/// Draws `charts` side by side into the SVG file `path` (used by `qis bench` for its curve).
pub fn draw_log_log(path: &Path, charts: &[LogLogChart]) -> Result<()> {
    let charts: Vec<Chart> = charts
        .iter()
        .map(|c| Chart {
            title: c.title.clone(),
            x_desc: c.x_desc.clone(),
            y_desc: c.y_desc.clone(),
            x_log: true,
            y_log: true,
            y_zero: false,
            x_labels: None,
            legend: SeriesLabelPosition::LowerLeft,
            series: c
                .lines
                .iter()
                .enumerate()
                .map(|(i, l)| Series {
                    name: l.name.clone(),
                    points: l.points.clone(),
                    color: COLORS[i % COLORS.len()],
                })
                .collect(),
        })
        .collect();
    draw(path, &charts).map_err(|message| Error::Plot {
        path: path.to_owned(),
        message,
    })
}

/// Draws `charts` side by side into one SVG file.
fn draw(path: &Path, charts: &[Chart]) -> std::result::Result<(), String> {
    let width = 720 * charts.len() as u32;
    let root = SVGBackend::new(path, (width, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let areas = root.split_evenly((1, charts.len()));
    for (area, chart) in areas.iter().zip(charts) {
        let (x0, x1) = match &chart.x_labels {
            Some(labels) => (-0.5, labels.len() as f64 - 0.5),
            None => bounds(chart, |p| p.0, chart.x_log, false),
        };
        let (y0, y1) = bounds(chart, |p| p.1, chart.y_log, chart.y_zero);
        match (chart.x_log, chart.y_log) {
            (true, true) => panel(area, chart, (x0..x1).log_scale(), (y0..y1).log_scale()),
            (true, false) => panel(area, chart, (x0..x1).log_scale(), y0..y1),
            (false, true) => panel(area, chart, x0..x1, (y0..y1).log_scale()),
            (false, false) => panel(area, chart, x0..x1, y0..y1),
        }?;
    }
    root.present().map_err(|e| e.to_string())
}

/// The axis range covering every point, padded.
fn bounds(chart: &Chart, pick: impl Fn(&(f64, f64)) -> f64, log: bool, zero: bool) -> (f64, f64) {
    let values: Vec<f64> = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(&pick))
        .filter(|v| v.is_finite() && (!log || *v > 0.0))
        .collect();
    let (mut lo, mut hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return if log { (1.0, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        (lo / 1.5, hi * 1.5)
    } else {
        if zero {
            lo = lo.min(0.0);
        }
        if hi <= lo {
            hi = lo + 1.0;
        }
        let pad = (hi - lo) * 0.05;
        (if zero && lo >= 0.0 { lo } else { lo - pad }, hi + pad)
    }
}

fn panel<X, Y>(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    chart: &Chart,
    x: X,
    y: Y,
) -> std::result::Result<(), String>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let x_format = |v: &f64| match &chart.x_labels {
        Some(labels) => {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        }
        None => number(*v),
    };
    let y_format = |v: &f64| number(*v);
    let mut c = ChartBuilder::on(area)
        .caption(&chart.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)
        .map_err(|e| err(&e))?;
    c.configure_mesh()
        .x_desc(chart.x_desc.as_str())
        .y_desc(chart.y_desc.as_str())
        .x_label_formatter(&x_format)
        .y_label_formatter(&y_format)
        .x_labels(chart.x_labels.as_ref().map_or(10, |l| l.len() * 2 + 1))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| err(&e))?;
    for s in &chart.series {
        let color = s.color;
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| {
                x.is_finite()
                    && y.is_finite()
                    && (!chart.x_log || *x > 0.0)
                    && (!chart.y_log || *y > 0.0)
            })
            .collect();
        c.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(s.name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        c.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|e| err(&e))?;
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(chart.legend.clone())
        .draw()
        .map_err(|e| err(&e))?;
    Ok(())
}

/// An axis label: integers without decimals, small numbers with as few as they need.
fn number(v: f64) -> String {
    if v.abs() >= 1000.0 || (v.fract().abs() < 1e-9 && v.abs() >= 1.0) {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}
