//! Prometheus metrics: a small registry of atomic counters and histograms, written out in the
//! text exposition format at `/metrics`.
//!
//! Routes are known when the app is built, so every series exists from the start and a request
//! costs a few relaxed atomic additions (no lock, no map lookup by string on the hot path beyond
//! finding the route's index).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use qis::router::layer::Meter;

use crate::error::{Code, ErrorCounts};

/// What `/metrics` shows of one network: its router's counts through this node, and what it
/// holds (`None` when its router could not say).
#[derive(Debug)]
pub(crate) struct NetworkGauges {
    pub(crate) network: String,
    pub(crate) meter: Meter,
    pub(crate) stats: Option<qis::router::Stats>,
}

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// Status classes counted per route.
const CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

/// The series of one route.
#[derive(Debug, Default)]
struct RouteSeries {
    /// Requests by status class.
    by_class: [AtomicU64; 4],
    /// Latency histogram: counts per bucket (not cumulative), then the overflow bucket.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    /// Sum of latencies, in microseconds.
    sum_micros: AtomicU64,
}

/// The node's metrics.
#[derive(Debug)]
pub struct Metrics {
    /// Route templates (`/v1/packets`, …), in the order of `series`; the last is "other".
    routes: Vec<String>,
    series: Vec<RouteSeries>,
    /// Error answers by code.
    errors: ErrorCounts,
    /// Open event streams.
    pub(crate) subscribers: AtomicU64,
}

impl Metrics {
    /// Metrics for these route templates.
    pub(crate) fn new(mut routes: Vec<String>) -> Self {
        routes.push("other".to_owned());
        Metrics {
            series: routes.iter().map(|_| RouteSeries::default()).collect(),
            routes,
            errors: ErrorCounts::default(),
            subscribers: AtomicU64::new(0),
        }
    }

    /// Records one request to `route` (a template; unknown ones count as "other").
    pub(crate) fn observe(
        &self,
        route: Option<&str>,
        status: u16,
        code: Option<Code>,
        took: Duration,
    ) {
        let i = route
            .and_then(|r| self.routes.iter().position(|x| *x == r))
            .unwrap_or(self.routes.len() - 1);
        let s = &self.series[i];
        let class = (status / 100).clamp(2, 5) as usize - 2;
        s.by_class[class].fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        s.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        s.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        if let Some(code) = code {
            self.errors.add(code);
        }
    }

    /// Error answers so far with `code`.
    pub fn errors(&self, code: Code) -> u64 {
        self.errors.get(code)
    }

    /// The text exposition format, with each network's counts labelled by its name.
    pub(crate) fn render(&self, networks: &[NetworkGauges], uptime_secs: f64) -> String {
        let mut out = String::with_capacity(8192);
        out.push_str(
            "# HELP qis_http_requests_total HTTP requests answered, by route and status class.\n",
        );
        out.push_str("# TYPE qis_http_requests_total counter\n");
        for (route, s) in self.routes.iter().zip(&self.series) {
            for (c, class) in CLASSES.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "qis_http_requests_total{{route=\"{route}\",status=\"{class}\"}} {}",
                    s.by_class[c].load(Ordering::Relaxed)
                );
            }
        }
        out.push_str("# HELP qis_http_request_duration_seconds Time to answer, by route.\n");
        out.push_str("# TYPE qis_http_request_duration_seconds histogram\n");
        for (route, s) in self.routes.iter().zip(&self.series) {
            let mut cumulative = 0;
            for (b, bound) in BUCKETS.iter().enumerate() {
                cumulative += s.buckets[b].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "qis_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            cumulative += s.buckets[BUCKETS.len()].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "qis_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {cumulative}"
            );
            let _ = writeln!(
                out,
                "qis_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                s.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "qis_http_request_duration_seconds_count{{route=\"{route}\"}} {cumulative}"
            );
        }
        out.push_str("# HELP qis_http_errors_total Error answers, by stable error code.\n");
        out.push_str("# TYPE qis_http_errors_total counter\n");
        for code in Code::ALL {
            let _ = writeln!(
                out,
                "qis_http_errors_total{{code=\"{}\"}} {}",
                code.as_str(),
                self.errors.get(code)
            );
        }
        let _ = writeln!(
            out,
            "# HELP qis_event_subscribers Open event streams.\n# TYPE qis_event_subscribers gauge\nqis_event_subscribers {}",
            self.subscribers.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP qis_uptime_seconds Seconds since the server started.\n# TYPE qis_uptime_seconds gauge\nqis_uptime_seconds {uptime_secs}"
        );
        type Series = (
            &'static str,
            &'static str,
            &'static str,
            fn(&NetworkGauges) -> Option<f64>,
        );
        let series: [Series; 6] = [
            (
                "qis_packets_received_total",
                "counter",
                "Packets in deposits the router accepted, repeats included.",
                |n| Some(n.meter.packets_received as f64),
            ),
            (
                "qis_packets_stored_total",
                "counter",
                "Packets newly stored through this node.",
                |n| Some(n.meter.packets_stored as f64),
            ),
            (
                "qis_router_packets",
                "gauge",
                "Packets the router holds.",
                |n| n.stats.as_ref().map(|s| s.packets as f64),
            ),
            (
                "qis_router_addresses",
                "gauge",
                "Distinct addresses the router holds.",
                |n| n.stats.as_ref().map(|s| s.addresses as f64),
            ),
            (
                "qis_router_vectors",
                "gauge",
                "Packets with a vector.",
                |n| n.stats.as_ref().map(|s| s.vectors as f64),
            ),
            (
                "qis_router_expired",
                "gauge",
                "Expired packets awaiting the purge.",
                |n| n.stats.as_ref().map(|s| s.expired as f64),
            ),
        ];
        for (name, kind, help, value) in series {
            let _ = writeln!(
                out,
                "# HELP {name} {help} By network.\n# TYPE {name} {kind}"
            );
            for n in networks {
                if let Some(v) = value(n) {
                    let _ = writeln!(out, "{name}{{network=\"{}\"}} {v}", n.network);
                }
            }
        }
        out
    }
}
