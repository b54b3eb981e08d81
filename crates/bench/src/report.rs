//! The table.

use std::time::Duration;

/// One line of the table.
#[derive(Debug)]
pub struct Row {
    /// Scenario name.
    pub name: String,
    /// Successful requests.
    pub requests: usize,
    /// Failed requests.
    pub errors: usize,
    /// Successful requests per second.
    pub throughput: f64,
    /// Latency percentiles.
    pub p50: Duration,
    /// 95th.
    pub p95: Duration,
    /// 99th.
    pub p99: Duration,
    /// Server RSS after the scenario, bytes.
    pub rss: u64,
    /// Server peak RSS so far, bytes.
    pub peak_rss: u64,
    /// A note (e.g. the setup).
    pub note: String,
}

/// The latency at quantile `q` of sorted `v`.
pub fn quantile(v: &[Duration], q: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[i.min(v.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn mb(b: u64) -> String {
    format!("{:.1}", b as f64 / (1024.0 * 1024.0))
}

/// Describes the machine: cores and model name.
pub fn machine_line() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown CPU")
        .trim()
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("machine: {cores} cores, {model}")
}

/// Renders rows as a Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | requests | errors | req/s | p50 ms | p95 ms | p99 ms | RSS MB | peak RSS MB | setup |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} |\n",
            r.name,
            r.requests,
            r.errors,
            r.throughput,
            ms(r.p50),
            ms(r.p95),
            ms(r.p99),
            mb(r.rss),
            mb(r.peak_rss),
            r.note
        ));
    }
    out
}
