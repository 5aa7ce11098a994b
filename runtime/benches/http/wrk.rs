//! Running `wrk` and reading what it prints: requests per second, the requests completed,
//! and the p50/p99 of its latency distribution (`--latency`).

use std::process::Command;

/// What one wrk run measured.
pub struct WrkResult {
    pub requests_per_sec: f64,
    pub requests: u64,
    pub p50_us: f64,
    pub p99_us: f64,
}

/// wrk's version line, as `wrk -v` prints it ("wrk 4.1.0 [epoll] …" up to the bracket).
pub fn version() -> Result<String, String> {
    let output = Command::new("wrk")
        .arg("-v")
        .output()
        .map_err(|err| format!("wrk could not be started ({err})"))?;
    // `wrk -v` prints its version, then its usage, and exits with 1.
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    let first = text.lines().next().unwrap_or_default();
    let version = first.split(" [").next().unwrap_or(first).trim();
    if version.starts_with("wrk") {
        Ok(version.to_string())
    } else {
        Err(format!("`wrk -v` printed no version: {text:?}"))
    }
}

/// Runs `wrk -t<threads> -c<connections> -d<seconds>s --latency <url>`.
pub fn run(url: &str, threads: u32, connections: u32, seconds: u64) -> Result<WrkResult, String> {
    let output = Command::new("wrk")
        .args([
            format!("-t{threads}"),
            format!("-c{connections}"),
            format!("-d{seconds}s"),
            "--latency".to_string(),
            url.to_string(),
        ])
        .output()
        .map_err(|err| format!("wrk could not be started ({err})"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("wrk failed ({}):\n{text}", output.status));
    }
    parse(&text)
}

/// Reads wrk's report.
fn parse(text: &str) -> Result<WrkResult, String> {
    let field = |prefix: &str| -> Option<&str> {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix))
            .map(str::trim)
    };
    if let Some(errors) = field("Socket errors:") {
        // Counted, not fatal: a timeout now and then on a loaded machine is a figure too.
        eprintln!("  wrk saw socket errors: {errors}");
    }
    if let Some(bad) = field("Non-2xx or 3xx responses:") {
        return Err(format!("{bad} responses were not 200:\n{text}"));
    }
    let requests_per_sec = field("Requests/sec:")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no Requests/sec in:\n{text}"))?;
    let requests = text
        .lines()
        .find(|line| line.contains(" requests in "))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no request count in:\n{text}"))?;
    let percentile = |name: &str| {
        field(name)
            .and_then(duration_us)
            .ok_or_else(|| format!("no {name} latency in:\n{text}"))
    };
    Ok(WrkResult {
        requests_per_sec,
        requests,
        p50_us: percentile("50%")?,
        p99_us: percentile("99%")?,
    })
}

/// A wrk duration ("381.00us", "1.23ms", "2.01s") in microseconds.
fn duration_us(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60e6)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    number.trim().parse::<f64>().ok().map(|n| n * scale)
}
