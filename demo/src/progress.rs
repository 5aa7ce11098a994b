//! The live display: progress bars when stdout is a terminal, a plain line now and then when
//! it is not (a pipe, a file, a test).
//!
//! The display is a task of its own that wakes on a timer and reads what the senders and the
//! counter share with it. So it is one more task taking turns on the runtime's thread: with
//! `--blocking-counter` you can watch it stall along with everything else.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use nbio::JoinHandle;

use crate::client::{Phase, SendProgress};
use crate::counter::CounterConfig;
use crate::report::thousands;

/// How often the bars are redrawn.
const BAR_PERIOD: Duration = Duration::from_millis(100);

/// How often a plain progress line is printed.
const LINE_PERIOD: Duration = Duration::from_secs(1);

/// What the display shows, and its reporter task.
pub struct Live {
    view: Rc<View>,
    reporter: JoinHandle<()>,
}

/// The state the display reads, and how it draws it.
struct View {
    sends: Vec<Arc<SendProgress>>,
    count: Rc<Cell<u64>>,
    limit: Option<u64>,
    bars: Option<Bars>,
}

struct Bars {
    // Kept so that the bars stay attached to one draw target for the display's lifetime.
    _multi: MultiProgress,
    sends: Vec<ProgressBar>,
    counter: ProgressBar,
}

impl Live {
    /// Starts the display's task. With `bars`, draws progress bars on stdout; without, prints
    /// a plain line every second while the sends run (none at all for a quick run).
    pub fn start(
        bars: bool,
        sends: Vec<Arc<SendProgress>>,
        count: Rc<Cell<u64>>,
        counter: &CounterConfig,
    ) -> Live {
        let bars = bars.then(|| Bars::new(&sends, counter.limit));
        let view = Rc::new(View {
            sends,
            count,
            limit: counter.limit,
            bars,
        });
        let period = if view.bars.is_some() {
            BAR_PERIOD
        } else {
            LINE_PERIOD
        };
        let reporter = nbio::task::Builder::new()
            .name("display")
            .spawn_local(report_every(period, Rc::clone(&view)));
        Live { view, reporter }
    }

    /// Draws the final state and leaves the bars on screen, above the summary.
    pub fn finish(self) {
        self.reporter.abort();
        if let Some(bars) = &self.view.bars {
            self.view.draw_bars(bars);
            bars.sends.iter().for_each(ProgressBar::finish);
            bars.counter.finish_with_message(match self.view.limit {
                Some(_) => "done",
                None => "stopped: the sends are done",
            });
        }
    }

    /// Stops the display after a failure: bars are removed, so the error line stands alone.
    pub fn abandon(self) {
        self.reporter.abort();
        if let Some(bars) = &self.view.bars {
            bars.sends.iter().for_each(ProgressBar::finish_and_clear);
            bars.counter.finish_and_clear();
        }
    }
}

async fn report_every(period: Duration, view: Rc<View>) {
    let started = Instant::now();
    let mut ticks = nbio::time::interval(period);
    // One line per period: after a stall, one report, not one per period missed.
    ticks.set_missed_tick_behavior(nbio::time::MissedTickBehavior::Skip);
    ticks.tick().await; // at once: nothing to show yet
    loop {
        ticks.tick().await;
        match &view.bars {
            Some(bars) => view.draw_bars(bars),
            None => println!(
                "  {:>5.1} s  {}",
                started.elapsed().as_secs_f64(),
                view.line()
            ),
        }
    }
}

impl Bars {
    fn new(sends: &[Arc<SendProgress>], limit: Option<u64>) -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let send_style = ProgressStyle::with_template(
            "{prefix:>15} [{bar:24.cyan/blue}] {bytes:>10} / {total_bytes:<10} {wide_msg}",
        )
        .expect("the template is valid")
        .progress_chars("=> ");
        let sends = sends
            .iter()
            .map(|send| {
                let bar = multi.add(ProgressBar::new(send.total));
                bar.set_style(send_style.clone());
                bar.set_prefix(send.addr.to_string());
                bar
            })
            .collect();
        let counter = match limit {
            Some(limit) => {
                let bar = multi.add(ProgressBar::new(limit));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>15} [{bar:24.green}] {pos:>10} / {len:<10} {wide_msg}",
                    )
                    .expect("the template is valid")
                    .progress_chars("=> "),
                );
                bar
            }
            None => {
                let bar = multi.add(ProgressBar::no_length());
                bar.set_style(
                    ProgressStyle::with_template("{prefix:>15}  {pos:>10} {wide_msg}")
                        .expect("the template is valid"),
                );
                bar
            }
        };
        counter.set_prefix("counter");
        Bars {
            _multi: multi,
            sends,
            counter,
        }
    }
}

impl View {
    fn draw_bars(&self, bars: &Bars) {
        for (send, bar) in self.sends.iter().zip(&bars.sends) {
            bar.set_position(send.sent());
            bar.set_message(send_status(send));
        }
        bars.counter.set_position(self.count.get());
        let still_sending = self.sends.iter().any(|s| s.phase() != Phase::Done);
        bars.counter.set_message(if still_sending {
            "counting while the sends run"
        } else {
            "counting"
        });
    }

    fn line(&self) -> String {
        let mut line = match self.limit {
            Some(limit) => format!(
                "counter {}/{}",
                thousands(self.count.get()),
                thousands(limit)
            ),
            None => format!("counter {}", thousands(self.count.get())),
        };
        for send in &self.sends {
            line += &format!(
                "  {} {:.1}/{:.1} MiB",
                send.addr,
                mib(send.sent()),
                mib(send.total)
            );
        }
        line
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn send_status(send: &SendProgress) -> String {
    let waits = match send.waits.load(std::sync::atomic::Ordering::Relaxed) {
        1 => "1 wait".to_string(),
        n => format!("{} waits", thousands(n)),
    };
    match send.phase() {
        Phase::Connecting => "connecting".to_string(),
        Phase::Sending => waits,
        Phase::Confirming => format!("{waits}, awaiting confirmation"),
        Phase::Done => format!("{waits}, confirmed"),
    }
}
