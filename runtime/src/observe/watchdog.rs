//! The watchdog: a thread that looks at the runtime's threads now and then and notices a poll
//! that is taking too long, while it is still running.
//!
//! The article's `time.sleep(0.02)` holds the loop for 20 ms and nothing notices. nbio wants to
//! catch it without paying for a precise clock read around every poll (on the project's machine
//! one `Instant::now()` costs about 30 ns, more than a whole `yield_now`), and without the
//! errors of the kernel's cheap coarse clock, which under load lags by 8 to 30 ms and then
//! jumps, making short polls look long.
//!
//! So the thread that polls does not read a clock at all: around each poll it only stores a
//! sequence number in its [`Lane`] (odd while a poll runs). The watchdog samples every lane
//! with a precise clock. A lane that shows the same odd number at two samples is in one poll
//! that has lasted at least the time between them: the watchdog flags it and notes when it
//! first saw it and how much CPU time the thread had used. When that poll ends, the polling
//! thread sees the flag (one load), reads the clock and its own CPU time, and knows for sure
//! how long the poll held the thread and how much of that it was actually running. A poll that
//! never ends is reported by the watchdog itself.
//!
//! How often it samples depends on what it saw last:
//!
//! - **Busy, nothing long** (the lanes move between samples): once per threshold. A poll it
//!   sees for the first time cannot have become slow before the next look, so the watchdog
//!   sleeps until then instead of ticking; a thread that starts polling meanwhile does not
//!   wake it. A poll still there at the next look has lasted a whole threshold: it is flagged,
//!   and reported when it ends. Every poll that lasts twice the threshold is caught so; one
//!   between one and two thresholds long is caught when a look falls early enough in it.
//! - **A poll is long** (flagged and still running): every quarter of the threshold, to
//!   report it while it runs and to see whether its thread is blocked or computing.
//! - **Idle** (two samples with every lane still): no samples at all. The watchdog sleeps on a
//!   condition variable until a lane's thread comes back from blocking. That sleep is a
//!   cross-thread handshake of its own (`Sleep`), checked by a loom model.
//!
//! Sampling every quarter of the threshold whatever it saw, the watchdog of a hyper server on
//! two workers under `wrk` woke about 350 times a second (a futex call and a context switch
//! each); it wakes about 85 times now.

use std::fs;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::loom::{self, lock};

/// The shortest sampling period: a threshold below 4 ms is sampled every millisecond.
const MIN_PERIOD: Duration = Duration::from_millis(1);

/// One thread that polls tasks (the `block_on` thread, or a worker), as the watchdog sees it.
pub(crate) struct Lane {
    /// `(poll sequence << 1) | 1` while a poll runs, `poll sequence << 1` between polls.
    /// Written only by the lane's own thread, with plain stores.
    word: AtomicU64,
    /// What is being polled: the raw task id, or 0 for the `block_on` future.
    task: AtomicU64,
    /// The sequence number of a poll the watchdog saw running at two samples in a row (0:
    /// none). The lane's thread checks it when each poll ends.
    flagged: AtomicU64,
    /// What the watchdog saw of the flagged poll.
    sighting: Mutex<Sighting>,
    /// The lane thread's OS thread id, to read its CPU time and state from `/proc`.
    tid: AtomicI32,
    /// How a report names the thread ("the runtime's thread", "worker 1").
    pub(crate) name: String,
}

/// The watchdog's notes on one flagged poll.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sighting {
    /// When the watchdog first saw the poll running.
    pub(crate) since: Option<Instant>,
    /// The thread's CPU time when the poll was flagged, and when that was.
    pub(crate) cpu_at_flag: Option<(Instant, Duration)>,
    /// Samples during the poll in which the thread was blocked in a system call (sleeping or
    /// in uninterruptible I/O), and samples in which it was running or waiting for a CPU.
    pub(crate) blocked_samples: u32,
    pub(crate) runnable_samples: u32,
}

impl Lane {
    pub(crate) fn new(name: String) -> Lane {
        Lane {
            word: AtomicU64::new(0),
            task: AtomicU64::new(0),
            flagged: AtomicU64::new(0),
            sighting: Mutex::new(Sighting::default()),
            tid: AtomicI32::new(0),
            name,
        }
    }

    /// The calling thread is the lane's thread from now on.
    pub(crate) fn claim(&self) {
        self.tid.store(current_tid(), Relaxed);
    }

    /// A poll numbered `seq` of `task` starts. Two plain stores: the whole per-poll cost.
    #[inline]
    pub(crate) fn poll_started(&self, seq: u64, task: u64) {
        self.task.store(task, Relaxed);
        self.word.store((seq << 1) | 1, Relaxed);
    }

    /// The poll numbered `seq` ended. True if the watchdog flagged it: the caller then asks
    /// `take_sighting` how long it really was.
    #[inline]
    pub(crate) fn poll_ended(&self, seq: u64) -> bool {
        self.word.store(seq << 1, Relaxed);
        self.flagged.load(Acquire) == seq
    }

    /// What the watchdog noted about the flagged poll `seq`; clears the flag.
    #[cold]
    pub(crate) fn take_sighting(&self) -> Sighting {
        let sighting = std::mem::take(&mut *lock(&self.sighting));
        self.flagged.store(0, Release);
        sighting
    }
}

/// The watchdog of one runtime: its thread, the lanes it watches, and the sleep handshake.
pub(crate) struct Watchdog {
    inner: Arc<Inner>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    lanes: Mutex<Vec<Arc<Lane>>>,
    /// How often the lanes are sampled while a poll is long.
    period: Duration,
    /// How often they are sampled while busy with nothing long: the threshold.
    busy_period: Duration,
    /// Report a poll that is still running once it has lasted this long.
    in_progress_after: Duration,
    sleep: Sleep,
    /// Turns a lane's task id into the words a report uses ("task fetch#12").
    describe: Box<dyn Fn(u64) -> String + Send + Sync>,
    started: AtomicBool,
    /// Samples taken so far (each a look at every lane).
    samples: AtomicU64,
}

impl Watchdog {
    /// A watchdog for polls longer than `threshold`. Its thread starts with the first lane.
    pub(crate) fn new(
        threshold: Duration,
        describe: Box<dyn Fn(u64) -> String + Send + Sync>,
    ) -> Watchdog {
        Watchdog {
            inner: Arc::new(Inner {
                lanes: Mutex::default(),
                period: (threshold / 4).max(MIN_PERIOD),
                busy_period: threshold.max(MIN_PERIOD),
                in_progress_after: (threshold * 10).max(Duration::from_secs(1)),
                sleep: Sleep::new(),
                describe,
                started: AtomicBool::new(false),
                samples: AtomicU64::new(0),
            }),
            thread: Mutex::default(),
        }
    }

    /// How often the lanes are sampled while a poll is long.
    pub(crate) fn period(&self) -> Duration {
        self.inner.period
    }

    /// How often they are sampled while busy with nothing long: the threshold (`Stats`).
    pub(crate) fn busy_period(&self) -> Duration {
        self.inner.busy_period
    }

    /// Starts watching `lane`, starting the thread if this is the first. If the thread cannot
    /// be started (the process is out of threads) the warning is simply off.
    pub(crate) fn watch(&self, lane: Arc<Lane>) {
        lock(&self.inner.lanes).push(lane);
        if self.inner.started.swap(true, AcqRel) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        let spawned = thread::Builder::new()
            .name("nbio-watchdog".into())
            .spawn(move || inner.run());
        if let Ok(handle) = spawned {
            *lock(&self.thread) = Some(handle);
        }
    }

    /// A lane's thread is about to poll again after blocking (or after being outside the
    /// runtime): wake the watchdog if it went to sleep.
    #[inline]
    pub(crate) fn active(&self) {
        self.inner.sleep.active();
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(&self) {
        self.inner.sleep.shut_down();
        let handle = lock(&self.thread).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a sample found, on one lane or (the most of them) on all: ordered, so that the lane
/// that needs the closest watch decides when the next sample comes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Seen {
    /// Between polls, and unchanged since the last two samples.
    Still,
    /// Moved since the last sample.
    Moving,
    /// In one poll since the last sample at least.
    Long,
}

/// What the watchdog remembers of one lane between samples.
#[derive(Clone, Copy, Default)]
struct LastSeen {
    word: u64,
    /// When `word` was first seen.
    since: Option<Instant>,
    /// Samples in a row in which the lane did not move.
    still: u32,
    /// When a poll still running was last reported.
    reported: Option<Instant>,
}

impl Inner {
    fn run(&self) {
        let mut last: Vec<LastSeen> = Vec::new();
        // The first look comes soon: the lane that started the thread may be in a long poll.
        let mut nap = self.period;
        loop {
            if self.sleep.nap(nap) {
                return;
            }
            let lanes: Vec<Arc<Lane>> = lock(&self.lanes).clone();
            last.resize(lanes.len(), LastSeen::default());
            let now = Instant::now();
            self.samples.fetch_add(1, Relaxed);
            let moved = self.sleep.take_activity();
            let mut seen_most = if moved { Seen::Moving } else { Seen::Still };
            for (lane, seen) in lanes.iter().zip(last.iter_mut()) {
                seen_most = seen_most.max(self.sample(lane, seen, now));
            }
            nap = match seen_most {
                Seen::Long => self.period,
                Seen::Moving => self.busy_period,
                Seen::Still => {
                    if self.sleep.wait_for_activity() {
                        return;
                    }
                    self.period
                }
            };
        }
    }

    /// Looks at one lane: still (between polls and unchanged since the last two samples),
    /// moving, or in a poll seen at the last sample too (long; flagged now if it was not).
    fn sample(&self, lane: &Lane, seen: &mut LastSeen, now: Instant) -> Seen {
        let word = lane.word.load(Relaxed);
        if word != seen.word {
            *seen = LastSeen {
                word,
                since: Some(now),
                still: 0,
                reported: None,
            };
            return Seen::Moving;
        }
        seen.still = seen.still.saturating_add(1);
        if word & 1 == 0 {
            return if seen.still >= 2 {
                Seen::Still
            } else {
                Seen::Moving
            };
        }
        // The same poll as at the last sample: it has run for at least one period.
        let seq = word >> 1;
        let tid = lane.tid.load(Relaxed);
        let state = thread_state(tid);
        let cpu_at_flag = {
            let mut sighting = lock(&lane.sighting);
            if lane.flagged.load(Acquire) != seq {
                *sighting = Sighting {
                    since: seen.since,
                    cpu_at_flag: thread_cpu_time(tid).map(|cpu| (now, cpu)),
                    ..Sighting::default()
                };
                lane.flagged.store(seq, Release);
            }
            match state {
                Some('S') | Some('D') => sighting.blocked_samples += 1,
                Some(_) => sighting.runnable_samples += 1,
                None => {}
            }
            sighting.cpu_at_flag
        };
        let held = seen.since.map_or(Duration::ZERO, |since| now - since);
        let due = seen.reported.map_or(held >= self.in_progress_after, |at| {
            now - at >= self.in_progress_after
        });
        if due {
            seen.reported = Some(now);
            let what = (self.describe)(lane.task.load(Relaxed));
            let (thread, held) = (&lane.name, super::explain::human(held));
            // As at the end of a slow poll (`slow.rs`): a thread that was runnable but hardly
            // ran since the flag was kept off the CPU; that is not the task's doing.
            let ran = cpu_at_flag.and_then(|(at, cpu_then)| {
                let window = now.saturating_duration_since(at);
                let ran = thread_cpu_time(tid)?.saturating_sub(cpu_then);
                (window >= self.period && ran < window / 2).then_some((ran, window))
            });
            match (ran, state) {
                (_, Some('S') | Some('D')) | (None, _) => eprintln!(
                    "nbio: slow poll: {what} has held {thread} for {held} so far and has not \
                     returned; a poll must not block: await instead of sleeping or doing \
                     blocking I/O"
                ),
                (Some((ran, window)), _) => eprintln!(
                    "nbio: slow poll: {what} has been in one poll for {held} so far, but \
                     {thread} ran for only {} of the last {}: the operating system or the \
                     virtual machine gave the CPU to something else, so this is not the task's \
                     doing",
                    super::explain::human(ran),
                    super::explain::human(window),
                ),
            }
        }
        Seen::Long
    }
}

/// The watchdog's sleep, as one atomic word that the watchdog and the lanes' threads change
/// with read-modify-writes only (so that they happen in one total order): the watchdog sets
/// `SLEEPING` before it blocks and checks `ACTIVE`; a lane's thread sets `ACTIVE` and, if it
/// finds `SLEEPING`, wakes the watchdog under the lock the watchdog sleeps with. Whichever
/// comes first, the other sees it: the watchdog never sleeps through a poll it should watch.
pub(crate) struct Sleep {
    state: loom::AtomicUsize,
    lock: loom::Mutex<()>,
    wakeup: loom::Condvar,
}

/// A lane's thread came back from blocking since the watchdog last looked.
const ACTIVE: usize = 1;
/// The watchdog is blocked (or about to block) until activity.
const SLEEPING: usize = 1 << 1;
/// The runtime is gone: the watchdog must exit.
const SHUTDOWN: usize = 1 << 2;

impl Sleep {
    pub(crate) fn new() -> Sleep {
        Sleep {
            state: loom::AtomicUsize::new(0),
            lock: loom::Mutex::new(()),
            wakeup: loom::Condvar::new(),
        }
    }

    /// A lane's side: activity. Wakes the watchdog if it sleeps.
    #[inline]
    pub(crate) fn active(&self) {
        let before = self.state.fetch_or(ACTIVE, AcqRel);
        if before & SLEEPING != 0 {
            self.wake();
        }
    }

    #[cold]
    fn wake(&self) {
        let _guard = loom_lock(&self.lock);
        self.state.fetch_and(!SLEEPING, AcqRel);
        self.wakeup.notify_one();
    }

    /// The watchdog's side: was there activity since the last look? Clears the mark.
    pub(crate) fn take_activity(&self) -> bool {
        self.state.fetch_and(!ACTIVE, AcqRel) & ACTIVE != 0
    }

    /// The watchdog's side: sleeps until a lane is active again (at once if one was since the
    /// last look). True if the runtime shut down meanwhile.
    pub(crate) fn wait_for_activity(&self) -> bool {
        let mut guard = loom_lock(&self.lock);
        let before = self.state.fetch_or(SLEEPING, AcqRel);
        if before & (ACTIVE | SHUTDOWN) != 0 {
            self.state.fetch_and(!SLEEPING, AcqRel);
            return before & SHUTDOWN != 0;
        }
        while self.state.load(Acquire) & SLEEPING != 0 {
            guard = self
                .wakeup
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
        self.state.load(Acquire) & SHUTDOWN != 0
    }

    /// The watchdog's side: waits one sampling period. True if the runtime shut down.
    fn nap(&self, period: Duration) -> bool {
        let guard = loom_lock(&self.lock);
        if self.state.load(Acquire) & SHUTDOWN != 0 {
            return true;
        }
        let (_guard, _) = self
            .wakeup
            .wait_timeout(guard, period)
            .unwrap_or_else(PoisonError::into_inner);
        self.state.load(Acquire) & SHUTDOWN != 0
    }

    /// The runtime's side, when it is dropped: tell the watchdog to exit, and wake it.
    pub(crate) fn shut_down(&self) {
        let _guard = loom_lock(&self.lock);
        self.state.fetch_or(SHUTDOWN, AcqRel);
        self.state.fetch_and(!SLEEPING, AcqRel);
        self.wakeup.notify_all();
    }
}

fn loom_lock<T>(mutex: &loom::Mutex<T>) -> loom::MutexGuard<'_, T> {
    // As above: the lock guards no data, only the condition variable's handshake.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The calling thread's OS id.
fn current_tid() -> i32 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        rustix::thread::gettid().as_raw_nonzero().get()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        0
    }
}

/// The CPU time thread `tid` of this process has used, from `/proc` (Linux only).
fn thread_cpu_time(tid: i32) -> Option<Duration> {
    if tid == 0 {
        return None;
    }
    // schedstat: "<ns on the CPU> <ns waiting for a CPU> <timeslices>".
    let text = fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// The scheduler state of thread `tid` (`R` running or runnable, `S` sleeping, `D` in
/// uninterruptible I/O, …), from `/proc` (Linux only).
fn thread_state(tid: i32) -> Option<char> {
    if tid == 0 {
        return None;
    }
    let text = fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // "tid (comm) S ...": the state follows the last ')', since comm may hold anything.
    text.rsplit_once(')')?.1.trim_start().chars().next()
}

/// The calling thread's CPU time, precisely (`CLOCK_THREAD_CPUTIME_ID`).
pub(crate) fn own_cpu_time() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A watchdog for `threshold` that describes every task as "t", and a lane it watches.
    fn watched(threshold: Duration) -> (Watchdog, Arc<Lane>) {
        let watchdog = Watchdog::new(threshold, Box::new(|_| "t".to_string()));
        let lane = Arc::new(Lane::new("lane".into()));
        lane.claim();
        watchdog.watch(Arc::clone(&lane));
        (watchdog, lane)
    }

    #[test]
    fn a_busy_lane_with_short_polls_is_sampled_once_per_threshold() {
        let threshold = Duration::from_millis(40);
        let (watchdog, lane) = watched(threshold);
        let started = Instant::now();
        let mut seq = 0;
        while started.elapsed() < Duration::from_millis(400) {
            seq += 1;
            lane.poll_started(seq, 1);
            assert!(!lane.poll_ended(seq), "a poll of no time was flagged");
        }
        let samples = watchdog.inner.samples.load(Relaxed);
        watchdog.stop();
        // Ten thresholds: about ten samples (and the first, a quarter in), where sampling
        // every quarter of the threshold took forty.
        assert!(
            samples <= 16,
            "{samples} samples in 400 ms at a 40 ms threshold"
        );
    }

    #[test]
    fn a_poll_over_twice_the_threshold_long_is_flagged_whenever_it_starts() {
        let threshold = Duration::from_millis(40);
        let (watchdog, lane) = watched(threshold);
        // Start the long polls at different points between the watchdog's looks.
        for (seq, offset) in (1..).zip([0, 10, 20, 30]) {
            thread::sleep(Duration::from_millis(offset));
            lane.poll_started(seq, 1);
            thread::sleep(2 * threshold + threshold / 2);
            assert!(
                lane.poll_ended(seq),
                "poll {seq} (after {offset} ms) not flagged"
            );
            let sighting = lane.take_sighting();
            let held = sighting.since.map(|since| since.elapsed());
            assert!(held >= Some(threshold), "poll {seq}: held {held:?}");
        }
        watchdog.stop();
    }
}
