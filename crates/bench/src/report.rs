//! The table.

use std::fmt::Write as _;
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
#[expect(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a sample count is far below 2^52, and the index is in 0..len for q in 0..=1 (clamped anyway)"
)]
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

#[expect(
    clippy::cast_precision_loss,
    reason = "a byte count shown with one decimal in megabytes"
)]
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
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    format!("machine: {cores} cores, {model}")
}

/// Renders rows as a Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | requests | errors | req/s | p50 ms | p95 ms | p99 ms | RSS MB | peak RSS MB | setup |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} |",
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
        );
    }
    out
}

/// A small SVG chart of the latency percentiles per scenario (log scale). Hand-written: it is a
/// few rectangles and labels, and a plotting crate would need font files this tool can't rely
/// on.
#[expect(
    clippy::cast_precision_loss,
    reason = "row indices of a chart are tiny"
)]
pub fn svg(rows: &[Row]) -> String {
    const W: f64 = 960.0;
    const ROW_H: f64 = 42.0;
    const LEFT: f64 = 330.0;
    const RIGHT: f64 = 30.0;
    const TOP: f64 = 40.0;
    let h = TOP + ROW_H * rows.len() as f64 + 50.0;
    let max_ms = rows
        .iter()
        .map(|r| r.p99.as_secs_f64() * 1000.0)
        .fold(1.0_f64, f64::max);
    // Log scale from 0.01 ms to the next power of ten above the largest p99.
    let lo = 0.01_f64.log10();
    let hi = max_ms.log10().ceil().max(lo + 1.0);
    let x = |ms: f64| LEFT + (ms.max(0.01).log10() - lo) / (hi - lo) * (W - LEFT - RIGHT);
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{LEFT}\" y=\"22\" font-size=\"14\">Latency per scenario, ms (log scale): p50 / p95 / p99</text>\n"
    );
    let mut decade = lo;
    while decade <= hi + 1e-9 {
        let ms = 10f64.powf(decade);
        let gx = x(ms);
        let _ = writeln!(
            out,
            "<line x1=\"{gx:.1}\" y1=\"{TOP}\" x2=\"{gx:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\n<text x=\"{gx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
            h - 40.0,
            h - 24.0,
            if ms < 1.0 {
                format!("{ms}")
            } else {
                format!("{ms:.0}")
            }
        );
        decade += 1.0;
    }
    let colors = ["#4c78a8", "#f58518", "#e45756"];
    for (i, r) in rows.iter().enumerate() {
        let y = TOP + ROW_H * i as f64;
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 8.0,
            y + 22.0,
            esc(&r.name)
        );
        for (j, (d, c)) in [r.p50, r.p95, r.p99].iter().zip(colors).enumerate() {
            let ms = d.as_secs_f64() * 1000.0;
            let by = y + 6.0 + 10.0 * j as f64;
            let _ = writeln!(
                out,
                "<rect x=\"{LEFT}\" y=\"{by:.1}\" width=\"{:.1}\" height=\"9\" fill=\"{c}\"><title>{ms:.2} ms</title></rect>",
                (x(ms) - LEFT).max(1.0)
            );
        }
    }
    out.push_str("</svg>\n");
    out
}
