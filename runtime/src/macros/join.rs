//! `nbio::join!` and `nbio::try_join!`: run several futures in one task, wait for them all.
//!
//! Unlike `nbio::spawn`, which makes each future a task of its own that any worker may poll,
//! `join!` polls its futures itself, in the task that awaits it: one poll of the join polls
//! each future that has not completed, in the order written, with the same waker, so a wake of
//! any of them polls the join again. Nothing is allocated: each future is pinned on the stack of
//! the `async` code around the macro, as an `Option` that becomes `None` (the future dropped in
//! place) when it completes, beside an `Option` for its output.
//!
//! The two helpers below are what the expansion calls for each future; `__nbio_slots` (in
//! `macros/mod.rs`) gives each future its names.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Polls `future` if it is still running; when it completes, drops it and keeps its output.
/// Whether it has completed, now or before.
#[inline]
pub fn join_poll<F: Future>(
    future: &mut Pin<&mut Option<F>>,
    output: &mut Option<F::Output>,
    cx: &mut Context<'_>,
) -> bool {
    let Some(running) = future.as_mut().as_pin_mut() else {
        return true;
    };
    match running.poll(cx) {
        Poll::Ready(value) => {
            future.set(None);
            *output = Some(value);
            true
        }
        Poll::Pending => false,
    }
}

/// As [`join_poll`], for a future of a `Result`: an `Err` is handed back at once.
#[inline]
pub fn try_join_poll<F, T, E>(
    future: &mut Pin<&mut Option<F>>,
    output: &mut Option<T>,
    cx: &mut Context<'_>,
) -> Result<bool, E>
where
    F: Future<Output = Result<T, E>>,
{
    let Some(running) = future.as_mut().as_pin_mut() else {
        return Ok(true);
    };
    match running.poll(cx) {
        Poll::Ready(result) => {
            future.set(None);
            *output = Some(result?);
            Ok(true)
        }
        Poll::Pending => Ok(false),
    }
}

/// Waits for every future and gives their outputs as a tuple, in the order written.
///
/// The futures run concurrently in the task that awaits the `join!` (not in tasks of their
/// own: use [`spawn`](crate::spawn) for work that should run on other threads). Each poll of
/// the `join!` polls, in order, every future that has not completed; a future is dropped as
/// soon as it completes, and its output kept until the last one is done. Nothing is allocated.
///
/// ```
/// use std::time::Duration;
///
/// nbio::block_on(async {
///     let (a, b) = nbio::join!(
///         async {
///             nbio::time::sleep(Duration::from_millis(2)).await;
///             1
///         },
///         async { "two" },
///     );
///     assert_eq!((a, b), (1, "two"));
/// });
/// ```
///
/// Up to 64 futures (each costs one step of the compiler's macro recursion limit).
#[macro_export]
macro_rules! join {
    ($($futures:tt)*) => {
        $crate::__nbio_slots!(join $($futures)*)
    };
}

/// Waits for every future to give `Ok`, or for the first `Err`: `Ok` of the tuple of their
/// values, in the order written, or that first `Err`.
///
/// As [`join!`], the futures run in the awaiting task and are polled in order at each poll.
/// Every future's output must be a `Result` with the same error type. As soon as one of them
/// gives an `Err`, `try_join!` completes with it: the futures that have not completed are
/// dropped at that moment, without being polled again, and the values already gathered with
/// them (what a drop of each future loses is its "Cancel safety:" line).
///
/// ```
/// use std::io;
///
/// nbio::block_on(async {
///     let both: io::Result<(u8, u8)> = nbio::try_join!(async { Ok(1) }, async { Ok(2) });
///     assert_eq!(both.unwrap(), (1, 2));
///
///     let failed: Result<(u8, ()), &str> =
///         nbio::try_join!(async { Err("no") }, std::future::pending::<Result<(), &str>>());
///     assert_eq!(failed, Err("no")); // the pending one was dropped
/// });
/// ```
#[macro_export]
macro_rules! try_join {
    ($($futures:tt)*) => {
        $crate::__nbio_slots!(try_join $($futures)*)
    };
}

/// Pairs each future with a slot (`@munch [slots left] [futures read]`), then builds.
#[doc(hidden)]
#[macro_export]
macro_rules! __join_parse {
    ($kind:ident [$($s:tt)*] [$($d:tt)*]) => {
        $crate::__join_build!($kind $($d)*)
    };
    ($kind:ident [$slot:tt $($s:tt)*] [$($d:tt)*] $f:expr $(, $($r:tt)*)?) => {
        $crate::__join_parse!($kind [$($s)*] [$($d)* ($slot $f)] $($($r)*)?)
    };
    ($kind:ident [] [$($d:tt)*] $($r:tt)+) => {
        ::core::compile_error!("nbio::join! and nbio::try_join! take at most 64 futures")
    };
}

/// The expansion: each future pinned as an `Option` beside an `Option` for its output, and one
/// `poll_fn` that polls them in turn.
#[doc(hidden)]
#[macro_export]
macro_rules! __join_build {
    ($kind:ident $( (($idx:tt $var:ident $fut:ident $out:ident) $f:expr) )*) => {{
        $(
            let mut $fut = ::core::pin::pin!(::core::option::Option::Some(
                ::core::future::IntoFuture::into_future($f),
            ));
            let mut $out = ::core::option::Option::None;
        )*
        ::core::future::poll_fn(|__cx| {
            let mut __all_done = true;
            $(__all_done &= $crate::__join_step!($kind $fut $out __cx);)*
            if !__all_done {
                return ::core::task::Poll::Pending;
            }
            ::core::task::Poll::Ready($crate::__join_output!($kind ($(
                $out.take().expect("nbio::join! or try_join! polled again after it completed"),
            )*)))
        })
        .await
    }};
}

/// One future's poll in a join: whether it is done (a `try_join!` returns at an `Err`).
#[doc(hidden)]
#[macro_export]
macro_rules! __join_step {
    (join $fut:ident $out:ident $cx:ident) => {
        $crate::__private::join_poll(&mut $fut, &mut $out, $cx)
    };
    (try_join $fut:ident $out:ident $cx:ident) => {
        match $crate::__private::try_join_poll(&mut $fut, &mut $out, $cx) {
            ::core::result::Result::Ok(__done) => __done,
            ::core::result::Result::Err(__err) => {
                return ::core::task::Poll::Ready(::core::result::Result::Err(__err));
            }
        }
    };
}

/// The outputs, as the macro gives them.
#[doc(hidden)]
#[macro_export]
macro_rules! __join_output {
    (join $outputs:expr) => {
        $outputs
    };
    (try_join $outputs:expr) => {
        ::core::result::Result::Ok($outputs)
    };
}
