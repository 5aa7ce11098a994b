//! Timers: [`sleep`], [`sleep_until`], [`timeout`] and [`interval`].
//!
//! The article's counter calls `time.sleep(0.02)` between two counts. That stops the whole
//! thread, so for 20 ms no other generator runs and no socket is served. [`sleep`] instead
//! files a deadline with the reactor and returns `Pending`; the reactor ends its wait at the
//! earliest deadline and wakes the task. Meanwhile the thread runs every other task.
//!
//! Guarantees: a timer never completes before its deadline (the deadline is checked against
//! the clock, not just the wake); timers due together wake in deadline order; dropping a
//! pending timer removes it from the reactor at once (O(log n)), so cancelled timers leave
//! nothing behind. Precision is the kernel's: the reactor ends its wait with a timer descriptor
//! of its own, armed for the earliest deadline to the nanosecond (the kernel's timer slack,
//! which makes a `std::thread::sleep` 50 µs late or more, does not apply to it), so deadlines
//! below a millisecond are honoured. What is left is the time the kernel takes to run the
//! thread again once the timer fires.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use crate::context::{self, WaitOn};
use crate::reactor::Reactor;

/// Waits until `duration` has passed.
///
/// ```
/// use std::time::{Duration, Instant};
/// nbio::block_on(async {
///     let start = Instant::now();
///     nbio::time::sleep(Duration::from_millis(5)).await;
///     assert!(start.elapsed() >= Duration::from_millis(5));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(far_or(now().checked_add(duration)))
}

/// Now, by the clock of the runtime running this code: the real clock, or its virtual clock
/// when the runtime was built with [`Builder::virtual_time`](crate::Builder::virtual_time).
/// Outside a runtime, `Instant::now()`.
///
/// ```
/// use std::time::Duration;
/// let runtime = nbio::Runtime::builder().virtual_time(true).build()?;
/// runtime.block_on(async {
///     let start = nbio::time::now();
///     nbio::time::sleep(Duration::from_secs(3600)).await; // an hour, in no time
///     assert!(nbio::time::now() - start >= Duration::from_secs(3600));
/// });
/// # std::io::Result::Ok(())
/// ```
pub fn now() -> Instant {
    context::now()
}

/// Moves the virtual clock forward by `duration`, firing the timers that fall due, then lets
/// the tasks they woke run. Time that passes by itself (the clock jumps to the next deadline
/// when nothing can run) needs no call; `advance` is for a test that wants to move the clock
/// while tasks are still busy.
///
/// "Lets them run" is one yield: without a seed, that puts the caller behind every task the
/// timers woke, so they all run first. Under a seed (`Builder::seed`, `NBIO_SEED`) the next
/// task is drawn among all ready ones, the caller included, so `advance` may return before
/// some of them ran; a test that needs them done should await their handles.
///
/// ```
/// use std::time::Duration;
/// let runtime = nbio::Runtime::builder().virtual_time(true).build()?;
/// runtime.block_on(async {
///     let timer = nbio::spawn(nbio::time::sleep(Duration::from_secs(10)));
///     nbio::time::advance(Duration::from_secs(5)).await;
///     assert!(!timer.is_finished()); // due in 5 more seconds
///     nbio::time::advance(Duration::from_secs(5)).await;
///     assert!(timer.is_finished());
/// });
/// # std::io::Result::Ok(())
/// ```
///
/// # Panics
/// Outside a runtime, or on a runtime that runs on real time: advancing real time is not a
/// thing a program can do.
pub async fn advance(duration: Duration) {
    let reactor = context::reactor().unwrap_or_else(|| {
        panic!("nbio::time::advance called outside of an nbio runtime; await it inside block_on")
    });
    assert!(
        reactor.is_virtual(),
        "nbio::time::advance needs virtual time: build the runtime with \
         Builder::virtual_time(true)"
    );
    let mut woken = Vec::new();
    reactor.advance_clock(duration, &mut woken);
    for (waker, _) in woken {
        crate::loom::wake_guarded(waker);
    }
    // Let what the timers woke run before the caller goes on: go to the back of the queue once
    // (the `yield_now` of the executor, written here so that time needs nothing above it).
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}

/// Waits until `deadline`.
///
/// ```
/// use std::time::{Duration, Instant};
/// nbio::block_on(async {
///     let deadline = Instant::now() + Duration::from_millis(3);
///     nbio::time::sleep_until(deadline).await;
///     assert!(Instant::now() >= deadline);
/// });
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        timer: None,
    }
}

/// A deadline that overflowed `Instant` becomes "in about thirty years": never, in practice.
fn far_or(deadline: Option<Instant>) -> Instant {
    deadline.unwrap_or_else(|| now() + Duration::from_secs(86_400 * 365 * 30))
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// It registers with the runtime that first polls it; it must be polled inside an nbio
/// runtime unless its deadline has already passed.
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    /// The reactor entry, once registered.
    timer: Option<TimerEntry>,
}

/// A pending timer in a reactor.
struct TimerEntry {
    reactor: Arc<Reactor>,
    id: u64,
}

impl Sleep {
    /// When this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed, by the runtime's clock.
    pub fn is_elapsed(&self) -> bool {
        now() >= self.deadline
    }

    /// Moves the deadline; the sleep completes at the new one (even if the old one passed).
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel();
        self.deadline = deadline;
    }

    fn cancel(&mut self) {
        if let Some(entry) = self.timer.take() {
            entry.reactor.remove_timer(self.deadline, entry.id);
        }
    }

    /// Whether `entry` belongs to the runtime running on this thread.
    fn registered_here(entry: &TimerEntry) -> bool {
        context::is_current_reactor(&entry.reactor)
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // The clock decides, not the wake: a spurious wake before the deadline changes nothing.
        if now() >= self.deadline {
            self.cancel();
            return Poll::Ready(());
        }
        let deadline = self.deadline;
        if let Some(entry) = &self.timer {
            if Self::registered_here(entry)
                && entry.reactor.update_timer(deadline, entry.id, cx.waker())
            {
                context::waiting_on(WaitOn::Timer { deadline });
                return Poll::Pending;
            }
            // Moved to another runtime since it was registered: follow it there.
            self.cancel();
        }
        let reactor = context::reactor().unwrap_or_else(|| {
            panic!("nbio::time::Sleep polled outside of an nbio runtime; await it inside nbio::block_on")
        });
        let id = reactor.insert_timer(deadline, cx.waker());
        self.timer = Some(TimerEntry { reactor, id });
        context::waiting_on(WaitOn::Timer { deadline });
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.timer.is_some())
            .finish()
    }
}

/// The error of a [`timeout`] whose deadline came first.
///
/// It converts into an `io::Error` of kind `TimedOut`, so `?` works in I/O code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the deadline elapsed before the operation completed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(elapsed: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, elapsed)
    }
}

/// Runs `future`, giving up with [`Elapsed`] if it has not completed within `duration`.
/// Giving up drops the future.
///
/// ```
/// use std::time::Duration;
/// use nbio::time::{sleep, timeout};
/// nbio::block_on(async {
///     assert_eq!(timeout(Duration::from_millis(50), async { 5 }).await, Ok(5));
///     let slow = sleep(Duration::from_secs(10));
///     assert!(timeout(Duration::from_millis(1), slow).await.is_err());
/// });
/// ```
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    Timeout {
        future: future.into_future(),
        sleep: sleep(duration),
    }
}

/// Like [`timeout`], with a deadline instead of a duration.
pub fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture> {
    Timeout {
        future: future.into_future(),
        sleep: sleep_until(deadline),
    }
}

pin_project! {
    /// The future returned by [`timeout`] and [`timeout_at`].
    #[must_use = "a Timeout does nothing unless awaited"]
    #[derive(Debug)]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The future first: one that is ready at the deadline still wins.
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        ready!(Pin::new(this.sleep).poll(cx));
        Poll::Ready(Err(Elapsed(())))
    }
}

/// Ticks every `period`; the first tick completes at once.
///
/// If the task falls behind (the next tick is already due when one is delivered), what happens
/// to the missed ticks is the interval's [`MissedTickBehavior`]: by default
/// [`Burst`](MissedTickBehavior::Burst), they are delivered back to back until the interval has
/// caught up with its schedule.
///
/// ```
/// use std::time::Duration;
/// nbio::block_on(async {
///     let mut ticks = nbio::time::interval(Duration::from_millis(2));
///     let first = ticks.tick().await;
///     let second = ticks.tick().await;
///     assert_eq!(second - first, Duration::from_millis(2));
/// });
/// ```
///
/// # Panics
/// If `period` is zero.
pub fn interval(period: Duration) -> Interval {
    interval_at(now(), period)
}

/// Like [`interval`], with the first tick at `start`.
///
/// # Panics
/// If `period` is zero.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "nbio::time::interval needs a period greater than zero"
    );
    Interval {
        period,
        sleep: sleep_until(start),
        missed: MissedTickBehavior::Burst,
    }
}

/// What an [`Interval`] does with ticks it missed: ticks that fell due while the task was busy
/// elsewhere, so that by the time one tick is delivered the next is already due.
///
/// Say the period is 10 ms, ticks are due at 0, 10, 20, 30, 40 ms, and the task, after the tick
/// of 0 ms, comes back at 35 ms. Each behaviour then delivers:
///
/// | behaviour | ticks delivered at 35 ms | the tick after them    |
/// |-----------|--------------------------|------------------------|
/// | `Burst`   | 10, 20 and 30, at once   | 40 ms (the old grid)   |
/// | `Delay`   | 10                       | 45 ms (35 + 10)        |
/// | `Skip`    | 10                       | 40 ms (the old grid)   |
///
/// Each tick returns the instant it was scheduled for, so a late tick says how late it is
/// (compare it with [`now`]).
///
/// ```
/// use std::time::Duration;
/// use nbio::time::{interval, sleep, MissedTickBehavior};
/// let runtime = nbio::Runtime::builder().virtual_time(true).build()?;
/// runtime.block_on(async {
///     let mut ticks = interval(Duration::from_millis(10));
///     ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
///     let start = ticks.tick().await;
///     sleep(Duration::from_millis(35)).await; // busy: the ticks of 10, 20, 30 ms are missed
///     assert_eq!(ticks.tick().await - start, Duration::from_millis(10)); // late, at once
///     ticks.tick().await; // a whole period after the late tick was delivered
///     assert_eq!(nbio::time::now() - start, Duration::from_millis(45));
/// });
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MissedTickBehavior {
    /// Delivers every missed tick, back to back, until the interval is on schedule again; the
    /// schedule itself does not move. For a count of ticks that must come out right (a rate,
    /// a budget refilled per tick). The default.
    #[default]
    Burst,
    /// Delivers one tick for those missed, and moves the schedule: the next tick is a period
    /// after this one was delivered. For "at least a period between two ticks" (a poll of a
    /// remote service that must not be hammered after a stall).
    Delay,
    /// Delivers one tick for those missed, and keeps the schedule: the next tick is the first
    /// one of the original grid still ahead. For work that must stay in phase with the clock
    /// (once a second, on the second).
    Skip,
}

impl MissedTickBehavior {
    /// When the tick after one scheduled for `tick` falls due, if that tick is delivered at
    /// `now` and the one after it (`tick + period`) is already due.
    fn next_after_missed(self, tick: Instant, now: Instant, period: Duration) -> Instant {
        match self {
            MissedTickBehavior::Burst => far_or(tick.checked_add(period)),
            MissedTickBehavior::Delay => far_or(now.checked_add(period)),
            MissedTickBehavior::Skip => {
                // The first tick of the grid strictly after now, keeping the phase.
                let missed = (now - tick).as_nanos() / period.as_nanos();
                let skip = period.as_nanos().saturating_mul(missed + 1);
                let skip = Duration::from_nanos(u64::try_from(skip).unwrap_or(u64::MAX));
                far_or(tick.checked_add(skip))
            }
        }
    }
}

/// A schedule of ticks; see [`interval`].
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    /// Sleeps until the next tick.
    sleep: Sleep,
    /// What to do with ticks missed while the task was busy.
    missed: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled for.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick; the building block of [`tick`](Interval::tick).
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        ready!(Pin::new(&mut self.sleep).poll(cx));
        let tick = self.sleep.deadline();
        let now = now();
        let mut next = far_or(tick.checked_add(self.period));
        if next <= now {
            // Behind schedule: the next tick is already due.
            next = self.missed.next_after_missed(tick, now, self.period);
        }
        self.sleep.reset(next);
        Poll::Ready(tick)
    }

    /// The time between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// What the interval does with ticks missed while the task was busy (see
    /// [`MissedTickBehavior`]); takes effect from the next missed tick.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }

    /// What the interval does with missed ticks; [`MissedTickBehavior::Burst`] unless set.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }
}
