//! Resident memory, load average, disk usage, and latency/recall of a query loop.

use std::fs;
use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};

use crate::data::K;

/// VmRSS, RssAnon and RssFile of this process, in MiB.
pub fn rss() -> Value {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    json!({ "rss_mib": round(field("VmRSS:")), "anon_mib": round(field("RssAnon:")), "file_mib": round(field("RssFile:")) })
}

pub fn rss_mib(v: &Value, field: &str) -> f64 {
    v[field].as_f64().unwrap_or(f64::NAN)
}

/// CPU seconds this process has used (user + system, all threads): unlike wall time, it does
/// not grow when other processes take the shared cores.
pub fn cpu_s() -> f64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses): utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0 // USER_HZ
}

/// The three load averages, as /proc/loadavg gives them.
pub fn loadavg() -> String {
    let s = fs::read_to_string("/proc/loadavg").unwrap();
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// Bytes of the files under `path`: (apparent, allocated on disk).
pub fn disk_usage(path: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(path).unwrap();
    if meta.is_file() {
        return (meta.len(), meta.blocks() * 512);
    }
    let mut sum = (0, 0);
    for entry in fs::read_dir(path).unwrap() {
        let (a, b) = disk_usage(&entry.unwrap().path());
        sum = (sum.0 + a, sum.1 + b);
    }
    sum
}

pub fn mib(bytes: u64) -> f64 {
    round(bytes as f64 / (1024.0 * 1024.0))
}

pub fn round(x: f64) -> f64 {
    if x.abs() >= 100.0 {
        x.round()
    } else {
        (x * 1000.0).round() / 1000.0
    }
}

pub fn secs(start: Instant) -> f64 {
    round(start.elapsed().as_secs_f64())
}

/// Runs `search` once per query, one at a time on this thread; latency percentiles, q/s, recall@K.
pub fn query_loop(
    queries: &[f32],
    dim: usize,
    truth: &[[u32; K]],
    mut search: impl FnMut(&[f32]) -> Vec<u64>,
) -> Value {
    let mut lat = Vec::with_capacity(truth.len());
    let mut hits = 0usize;
    let start = Instant::now();
    let cpu = cpu_s();
    for (q, exact) in queries.chunks_exact(dim).zip(truth) {
        let t = Instant::now();
        let found = search(q);
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        hits += found.iter().take(K).filter(|&&id| exact.contains(&(id as u32))).count();
    }
    let total = start.elapsed().as_secs_f64();
    let cpu = cpu_s() - cpu;
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1];
    json!({
        "p50_us": round(pct(0.50)),
        "p99_us": round(pct(0.99)),
        "mean_us": round(lat.iter().sum::<f64>() / lat.len() as f64),
        "qps": round(truth.len() as f64 / total),
        "cpu_mean_us": round(cpu * 1e6 / truth.len() as f64),
        "recall": round(hits as f64 / (K * truth.len()) as f64),
    })
}
