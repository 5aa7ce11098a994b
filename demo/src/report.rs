//! The summary a person reads at a glance, and the number formats it uses.

use std::fmt::Write as _;
use std::time::Duration;

use crate::client::{ClientReport, PATTERN};

/// `7340032` as `7,340,032`.
///
/// ```
/// assert_eq!(demo::report::thousands(7_340_032), "7,340,032");
/// assert_eq!(demo::report::thousands(999), "999");
/// ```
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A measured duration in the unit that reads best: `850 µs`, `41.2 ms`, `2.35 s`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(demo::report::duration(Duration::from_micros(41_200)), "41.2 ms");
/// assert_eq!(demo::report::duration(Duration::from_millis(4)), "4.0 ms");
/// assert_eq!(demo::report::duration(Duration::from_secs(10)), "10.00 s");
/// ```
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 1.0 {
        format!("{secs:.2} s")
    } else if secs >= 0.001 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        format!("{} µs", d.as_micros())
    }
}

/// A setting such as the counter's tick: `20 ms` when it is a whole number of milliseconds.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(demo::report::setting(Duration::from_millis(20)), "20 ms");
/// assert_eq!(demo::report::setting(Duration::from_micros(1_500)), "1.5 ms");
/// ```
pub fn setting(d: Duration) -> String {
    if d < Duration::from_secs(1) && !d.is_zero() && d.subsec_nanos() % 1_000_000 == 0 {
        format!("{} ms", d.as_millis())
    } else {
        duration(d)
    }
}

/// The summary of a client run, as printed after the scene or `demo client`. Lines stay
/// within 80 columns.
pub fn summary(report: &ClientReport) -> String {
    let mut out = String::new();
    let servers = report.sends.len();
    let _ = writeln!(
        out,
        "{} bytes (b{:?} x {}) to each of {servers} server{},",
        thousands(report.payload_len),
        String::from_utf8_lossy(PATTERN),
        thousands(report.payload_len / PATTERN.len() as u64),
        if servers == 1 { "" } else { "s" },
    );
    if report.counter.blocking {
        let _ = writeln!(
            out,
            "while a counter counts every {} with std::thread::sleep,\n\
             which blocks the thread as the article's time.sleep(0.02) does.",
            setting(report.counter.tick),
        );
    } else {
        let _ = writeln!(
            out,
            "while a counter counts every {} on nbio's timer.",
            setting(report.counter.tick),
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  {:<21}  {:>11}  {:>11}  {:>16}  {:>9}",
        "server", "sent", "confirmed", "waits for room", "time"
    );
    for send in &report.sends {
        let _ = writeln!(
            out,
            "  {:<21}  {:>11}  {:>11}  {:>16}  {:>9}",
            send.addr.to_string(),
            thousands(send.sent),
            thousands(send.confirmed),
            thousands(send.waits),
            duration(send.elapsed),
        );
    }
    let _ = writeln!(out);
    let _ = write!(
        out,
        "  counter   counted from {} to {} while the sends were in flight",
        thousands(report.counter_at_start),
        thousands(report.counter_at_confirmed),
    );
    if report.counter_final != report.counter_at_confirmed {
        let _ = write!(
            out,
            ",\n            then on to {}",
            thousands(report.counter_final)
        );
    }
    let _ = writeln!(out);
    let bytes: u64 = report.sends.iter().map(|send| send.confirmed).sum();
    let _ = writeln!(
        out,
        "  elapsed   {} for {} bytes confirmed: {:.1} MiB/s",
        duration(report.elapsed),
        thousands(bytes),
        bytes as f64 / (1024.0 * 1024.0) / report.elapsed.as_secs_f64().max(1e-9),
    );
    let stats = &report.stats;
    if !stats.workers.is_empty() {
        let steals: u64 = stats.workers.iter().map(|w| w.steals).sum();
        let _ = writeln!(
            out,
            "  threads   {} workers ran the sends and the servers ({} polls, {});\n            \
             the counter ticked on the main thread",
            stats.workers.len(),
            stats
                .workers
                .iter()
                .map(|w| thousands(w.polls))
                .collect::<Vec<_>>()
                .join(" and "),
            plural(steals, "steal", "steals"),
        );
    }
    let _ = writeln!(
        out,
        "  runtime   {} spawned, {}, {} ({} from other threads)",
        plural(stats.tasks_spawned, "task", "tasks"),
        plural(stats.polls, "poll", "polls"),
        plural(stats.wakes, "wake", "wakes"),
        thousands(stats.remote_wakes),
    );
    let _ = writeln!(
        out,
        "            {}, {}, {}",
        plural(stats.reactor_waits, "reactor wait", "reactor waits"),
        plural(stats.io_events, "io event", "io events"),
        plural(stats.timers_fired, "timer fired", "timers fired"),
    );
    let _ = writeln!(
        out,
        "            {} for readiness ({} after a short write, with no EAGAIN)",
        plural(stats.would_block, "wait", "waits"),
        thousands(stats.short_writes),
    );
    let _ = writeln!(out, "            {}", longest_poll(stats));
    out
}

/// What is known of the longest poll: the watchdog measures only polls that outlast one of
/// its samples, so a short one is "under" the sampling period, not "0 µs".
fn longest_poll(stats: &nbio::Stats) -> String {
    match stats.poll_sample_period {
        None => "longest poll not measured (the slow-poll warning is off)".to_string(),
        Some(period) if stats.longest_poll.is_zero() => format!(
            "no poll held the thread as long as {} (how often the watchdog looks)",
            duration(period)
        ),
        Some(_) => format!(
            "the longest poll held the thread for at least {}",
            duration(stats.longest_poll)
        ),
    }
}

/// `1 timer fired`, `2 timers fired`.
fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{} {many}", thousands(n))
    }
}

/// The verdict line: every byte arrived, or which server is short.
pub fn verdict(report: &ClientReport) -> Result<String, String> {
    if report.every_byte_arrived() {
        return Ok(format!(
            "  result    every byte arrived: {} bytes confirmed by each server",
            thousands(report.payload_len)
        ));
    }
    let short: Vec<String> = report
        .sends
        .iter()
        .filter(|send| send.confirmed != report.payload_len)
        .map(|send| {
            format!(
                "{} confirmed {} of {} bytes",
                send.addr,
                thousands(send.confirmed),
                thousands(report.payload_len)
            )
        })
        .collect();
    Err(short.join("; "))
}
