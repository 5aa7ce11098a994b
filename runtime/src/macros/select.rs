//! `nbio::select!`: wait on several futures, go on with the first that completes, drop the rest.
//!
//! The article's loop asks `select()` which of its sockets is ready and serves that one; a task
//! asks `select!` which of its futures completed and runs that branch. The macro is
//! declarative (`macro_rules!`), in three steps, each a macro of its own:
//!
//! 1. `__select_parse` reads the branches one at a time and gives each a slot from
//!    `__nbio_slots` (a number, a variant name, a name for its pinned future): a branch is
//!    `pattern = future (, if precondition)? => handler`. Patterns are read token by token up to
//!    their `=` (a pattern can not be taken whole and looked into later), with short cuts for
//!    one- and two-token patterns, so that most branches cost one step of the compiler's
//!    recursion limit.
//! 2. `__select_build` writes the expansion: the preconditions, then the futures, pinned on the
//!    stack; one `poll_fn` that polls the enabled ones, starting at a branch drawn from the
//!    runtime's generator (`executor/seed.rs`, through `__private::select_start`) or at the
//!    first with `biased;`; the output of the winner, in a local enum with one variant per
//!    branch. The futures are dropped when that block ends, *before* the winner's handler runs.
//! 3. The handler runs outside every loop of the expansion, so `break`, `continue`, `return`,
//!    `?` and `.await` in it mean what they mean around the `select!`.
//!
//! A branch whose output does not match its pattern is disabled and the others are polled on.
//! That test is made on a reference to the output, before it is moved into the enum, with the
//! pattern stripped of its `mut` and `ref` (`__select_clean`): a binding by value would move it.
//! The enabled branches are the bits of a `u64`, which is where the limit of 64 branches comes
//! from.

/// Waits on several futures at once, runs the branch of the first to complete, and drops the
/// others.
///
/// ```text
/// nbio::select! {
///     pattern = future => handler,
///     pattern = future, if precondition => handler,
///     else => handler,
/// }
/// ```
///
/// Each future is anything [`IntoFuture`](std::future::IntoFuture), taken by value, or a
/// pinned future by `&mut` (`&mut fut` where `fut` is `Unpin`, e.g. `std::pin::pin!(..)` or a
/// `Pin<Box<_>>`), which survives the `select!` and can be awaited again.
///
/// What happens, in order:
/// 1. Every precondition is evaluated; a branch whose precondition is `false` is disabled.
/// 2. Every future expression is evaluated (those of disabled branches too, but they are never
///    polled).
/// 3. The enabled futures are polled, each turn starting from a branch drawn at random (see
///    below), until one completes. If its output matches the pattern, the other futures are
///    dropped and that branch's handler runs with the pattern's bindings; its value is the
///    value of the `select!`. If it does not match, that branch is disabled and the others
///    are polled on.
/// 4. If every branch is disabled, the `else` branch runs; without one, `select!` panics.
///
/// The handler runs in the surrounding code: `break`, `continue`, `return`, `?` and `.await`
/// in a handler act on what is around the `select!`.
///
/// ```
/// use nbio::sync::mpsc;
/// use std::time::Duration;
///
/// nbio::block_on(async {
///     let (tx, mut rx) = mpsc::channel::<u32>(4);
///     nbio::spawn(async move { tx.send(7).await.unwrap() });
///     let got = nbio::select! {
///         Some(n) = rx.recv() => n,
///         _ = nbio::time::sleep(Duration::from_secs(5)) => 0,
///     };
///     assert_eq!(got, 7);
/// });
/// ```
///
/// # Which branch goes first
///
/// Without `biased;` each poll starts at a branch drawn from the running runtime's generator:
/// under [`Builder::seed`](crate::Builder::seed) (or `NBIO_SEED`), the generator that orders
/// its tasks, so that a replay of the seed picks the same winners; without a seed, or outside
/// an nbio runtime (another executor, a future polled by hand), a cheap generator of the
/// thread. No branch is favoured when several are ready, so one that is always ready cannot
/// starve the others. With `biased;` as the first token the branches are polled top-down,
/// every time, which costs no draw and lets the order say what matters most (a shutdown
/// signal first, say): then a branch that is always ready does starve those below it.
///
/// ```
/// # nbio::block_on(async {
/// let first = nbio::select! {
///     biased;
///     a = std::future::ready(1) => a,
///     b = std::future::ready(2) => b,
/// };
/// assert_eq!(first, 1);
/// # });
/// ```
///
/// # Patterns, preconditions and `else`
///
/// A pattern that does not match disables its branch for the rest of this `select!`: a loop
/// over two channels with `Some(msg) = rx.recv()` stops hearing from a channel once it closes,
/// and reaches `else` when both have.
///
/// ```
/// use nbio::sync::mpsc;
///
/// # nbio::block_on(async {
/// let (tx_a, mut a) = mpsc::channel::<u32>(4);
/// let (tx_b, mut b) = mpsc::channel::<u32>(4);
/// tx_a.send(1).await.unwrap();
/// tx_b.send(2).await.unwrap();
/// drop((tx_a, tx_b));
/// let mut sum = 0;
/// loop {
///     nbio::select! {
///         Some(n) = a.recv() => sum += n,
///         Some(n) = b.recv() => sum += n,
///         else => break,
///     }
/// }
/// assert_eq!(sum, 3);
/// # });
/// ```
///
/// `, if condition` after the future enables a branch only when the condition holds; it is
/// evaluated once, when the `select!` starts.
///
/// # Cancel safety: what a losing branch loses
///
/// The futures of the branches that did not win are dropped, exactly as if the task had
/// stopped awaiting them: whatever a future does not keep across a drop is lost. So what a
/// loop of `select!` may use as a branch is a future that is cancel safe, and each nbio future
/// says under "Cancel safety:" in its documentation what a drop gives up. The channel and
/// lock futures of [`nbio::sync`](crate::sync) lose nothing: a losing
/// [`Sender::send`](crate::sync::mpsc::Sender::send) has sent nothing (its message is dropped
/// with it, never delivered later), a losing `recv` has taken no message, a losing `lock` or
/// `acquire` has handed what it was given to the next waiter. A timer's `sleep` loses nothing
/// but its place. Something that is part-way through (a `read_exact` that read half, an
/// `async` block that awaited twice) loses what it did: keep such a future across the loop
/// by pinning it outside and passing `&mut fut`.
///
/// # Limits
///
/// At most 64 branches. Each branch costs the compiler a step or two of its macro recursion
/// limit (128 by default; patterns longer than two tokens cost one step per token): a
/// `select!` of more than about 40 branches may need `#![recursion_limit = "256"]`. A pattern
/// is tested on a reference with `mut` and `ref` taken out; a pattern that needs the value
/// itself there (`&mut` reference patterns) is not supported.
///
/// The guide's chapter 10, "How a channel wakes a task", shows `select!` over channels and
/// what a losing branch loses; chapter 12, "Testing async code that must not flake", the seeds
/// that replay it.
#[macro_export]
macro_rules! select {
    (biased; $($branches:tt)+) => {
        $crate::__nbio_slots!(select biased $($branches)+)
    };
    ($($branches:tt)+) => {
        $crate::__nbio_slots!(select fair $($branches)+)
    };
    () => {
        ::core::compile_error!("nbio::select! needs at least one branch: `pattern = future => handler`")
    };
}

/// Step 1: reads the branches (`@munch`): `[slots left] [branches read] [else] [pattern so far]`
/// and the tokens not read yet.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // The end: build.
    (@munch $b:ident [$($s:tt)*] [$($d:tt)*] [$($e:tt)*] []) => {
        $crate::__select_build!($b [$($d)*] [$($e)*])
    };
    // The comma after a handler that is a block.
    (@munch $b:ident [$($s:tt)*] [$($d:tt)*] [$($e:tt)*] [] , $($r:tt)*) => {
        $crate::__select_parse!(@munch $b [$($s)*] [$($d)*] [$($e)*] [] $($r)*)
    };
    // `else => handler`.
    (@munch $b:ident [$($s:tt)*] [$($d:tt)*] [$($e:tt)+] [] else $($r:tt)*) => {
        ::core::compile_error!("nbio::select! takes one `else` branch at most")
    };
    (@munch $b:ident [$($s:tt)*] [$($d:tt)*] [] [] else => $h:block $($r:tt)*) => {
        $crate::__select_parse!(@munch $b [$($s)*] [$($d)*] [{ $h }] [] $($r)*)
    };
    (@munch $b:ident [$($s:tt)*] [$($d:tt)*] [] [] else => $h:expr , $($r:tt)*) => {
        $crate::__select_parse!(@munch $b [$($s)*] [$($d)*] [{ $h }] [] $($r)*)
    };
    (@munch $b:ident [$($s:tt)*] [$($d:tt)*] [] [] else => $h:expr) => {
        $crate::__select_parse!(@munch $b [$($s)*] [$($d)*] [{ $h }] [])
    };
    // A branch whose pattern is one token.
    (@munch $b:ident [$slot:tt $($s:tt)*] [$($d:tt)*] [$($e:tt)*] []
        $p0:tt = $f:expr $(, if $c:expr)? => $h:block $($r:tt)*) => {
        $crate::__select_parse!(@munch $b [$($s)*] [$($d)* ($slot [$p0] ($f) [$($c)?] { $h })]
            [$($e)*] [] $($r)*)
    };
    (@munch $b:ident [$slot:tt $($s:tt)*] [$($d:tt)*] [$($e:tt)*] []
        $p0:tt = $f:expr $(, if $c:expr)? => $h:expr $(, $($r:tt)*)?) => {
        $crate::__select_parse!(@munch $b [$($s)*] [$($d)* ($slot [$p0] ($f) [$($c)?] { $h })]
            [$($e)*] [] $($($r)*)?)
    };
    // A branch whose pattern is two tokens (`Some(x)`, `Ok(v)`).
    (@munch $b:ident [$slot:tt $($s:tt)*] [$($d:tt)*] [$($e:tt)*] []
        $p0:tt $p1:tt = $f:expr $(, if $c:expr)? => $h:block $($r:tt)*) => {
        $crate::__select_parse!(@munch $b [$($s)*] [$($d)* ($slot [$p0 $p1] ($f) [$($c)?] { $h })]
            [$($e)*] [] $($r)*)
    };
    (@munch $b:ident [$slot:tt $($s:tt)*] [$($d:tt)*] [$($e:tt)*] []
        $p0:tt $p1:tt = $f:expr $(, if $c:expr)? => $h:expr $(, $($r:tt)*)?) => {
        $crate::__select_parse!(@munch $b [$($s)*] [$($d)* ($slot [$p0 $p1] ($f) [$($c)?] { $h })]
            [$($e)*] [] $($($r)*)?)
    };
    // A branch whose pattern was read token by token.
    (@munch $b:ident [$slot:tt $($s:tt)*] [$($d:tt)*] [$($e:tt)*] [$($p:tt)+]
        = $f:expr $(, if $c:expr)? => $h:block $($r:tt)*) => {
        $crate::__select_parse!(@munch $b [$($s)*] [$($d)* ($slot [$($p)+] ($f) [$($c)?] { $h })]
            [$($e)*] [] $($r)*)
    };
    (@munch $b:ident [$slot:tt $($s:tt)*] [$($d:tt)*] [$($e:tt)*] [$($p:tt)+]
        = $f:expr $(, if $c:expr)? => $h:expr $(, $($r:tt)*)?) => {
        $crate::__select_parse!(@munch $b [$($s)*] [$($d)* ($slot [$($p)+] ($f) [$($c)?] { $h })]
            [$($e)*] [] $($($r)*)?)
    };
    // No slot left for one more branch.
    (@munch $b:ident [] [$($d:tt)*] [$($e:tt)*] [$($p:tt)*] $($r:tt)+) => {
        ::core::compile_error!("nbio::select! takes at most 64 branches")
    };
    // One more token of a long pattern.
    (@munch $b:ident [$($s:tt)*] [$($d:tt)*] [$($e:tt)*] [$($p:tt)*] $t:tt $($r:tt)*) => {
        $crate::__select_parse!(@munch $b [$($s)*] [$($d)*] [$($e)*] [$($p)* $t] $($r)*)
    };
}

/// Step 2: the expansion (see the module's documentation).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_build {
    ($b:ident [$( (($idx:tt $var:ident $fut:ident $out:ident) [$($p:tt)*] ($f:expr)
        [$($c:expr)?] $h:tt) )*] [$($e:tt)*]) => {{
        #[allow(non_camel_case_types, dead_code)]
        enum __Out<$($var,)*> {
            $($var($var),)*
            __Disabled,
        }
        const __BRANCHES: usize = {
            let __all: &[usize] = &[$($idx),*];
            __all.len()
        };
        let __out = {
            let mut __disabled: u64 = 0;
            $($(if !$c { __disabled |= 1 << $idx; })?)*
            $(let mut $fut = ::core::pin::pin!(::core::future::IntoFuture::into_future($f));)*
            ::core::future::poll_fn(|__cx| {
                let __start = $crate::__select_start!($b __BRANCHES);
                let mut __waiting = false;
                for __turn in __start..__start + __BRANCHES {
                    // The branches from the start on, then round to those before it.
                    let __branch = if __turn < __BRANCHES { __turn } else { __turn - __BRANCHES };
                    match __branch {
                        $($idx => {
                            if __disabled & (1 << $idx) != 0 {
                                continue;
                            }
                            match ::core::future::Future::poll($fut.as_mut(), __cx) {
                                ::core::task::Poll::Ready(__value) => {
                                    __disabled |= 1 << $idx;
                                    #[allow(unused_variables, unreachable_patterns)]
                                    let __matches = match &__value {
                                        $crate::__select_clean!([] [] $($p)*) => true,
                                        _ => false,
                                    };
                                    if __matches {
                                        return ::core::task::Poll::Ready(__Out::$var(__value));
                                    }
                                }
                                ::core::task::Poll::Pending => __waiting = true,
                            }
                        })*
                        _ => ::core::unreachable!(),
                    }
                }
                if __waiting {
                    ::core::task::Poll::Pending
                } else {
                    ::core::task::Poll::Ready(__Out::__Disabled)
                }
            })
            .await
        };
        match __out {
            $(__Out::$var($($p)*) => $h,)*
            __Out::__Disabled => $crate::__select_else!($($e)*),
            #[allow(unreachable_patterns)]
            _ => ::core::unreachable!("nbio::select!: an output matched its pattern, then did not"),
        }
    }};
}

/// Where the polls start: at the top with `biased;`, else at a drawn branch.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_start {
    (biased $n:expr) => {
        0
    };
    (fair $n:expr) => {
        $crate::__private::select_start($n)
    };
}

/// What runs when every branch is disabled.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_else {
    () => {
        ::core::panic!("nbio::select!: every branch is disabled and there is no `else` branch")
    };
    ($h:tt) => {
        $h
    };
}

/// A pattern without its `mut` and `ref`, to test it on a reference: `[groups being read]
/// [tokens so far]` and the tokens not read yet. A group is read by pushing what surrounds it.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_clean {
    ([] [$($o:tt)*]) => { $($o)* };
    ([([$($o:tt)*] () [$($r:tt)*]) $($st:tt)*] [$($in:tt)*]) => {
        $crate::__select_clean!([$($st)*] [$($o)* ($($in)*)] $($r)*)
    };
    ([([$($o:tt)*] [] [$($r:tt)*]) $($st:tt)*] [$($in:tt)*]) => {
        $crate::__select_clean!([$($st)*] [$($o)* [$($in)*]] $($r)*)
    };
    ([([$($o:tt)*] {} [$($r:tt)*]) $($st:tt)*] [$($in:tt)*]) => {
        $crate::__select_clean!([$($st)*] [$($o)* {$($in)*}] $($r)*)
    };
    ([$($st:tt)*] [$($o:tt)*] mut $($r:tt)*) => {
        $crate::__select_clean!([$($st)*] [$($o)*] $($r)*)
    };
    ([$($st:tt)*] [$($o:tt)*] ref $($r:tt)*) => {
        $crate::__select_clean!([$($st)*] [$($o)*] $($r)*)
    };
    ([$($st:tt)*] [$($o:tt)*] ($($in:tt)*) $($r:tt)*) => {
        $crate::__select_clean!([([$($o)*] () [$($r)*]) $($st)*] [] $($in)*)
    };
    ([$($st:tt)*] [$($o:tt)*] [$($in:tt)*] $($r:tt)*) => {
        $crate::__select_clean!([([$($o)*] [] [$($r)*]) $($st)*] [] $($in)*)
    };
    ([$($st:tt)*] [$($o:tt)*] {$($in:tt)*} $($r:tt)*) => {
        $crate::__select_clean!([([$($o)*] {} [$($r)*]) $($st)*] [] $($in)*)
    };
    ([$($st:tt)*] [$($o:tt)*] $t:tt $($r:tt)*) => {
        $crate::__select_clean!([$($st)*] [$($o)* $t] $($r)*)
    };
}
