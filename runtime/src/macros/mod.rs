//! The macros of nbio that are not attributes: [`select!`](crate::select),
//! [`join!`](crate::join) and [`try_join!`](crate::try_join) (`nbio::task_local!` is with the
//! task-local keys, in `task/local.rs`).
//!
//! They are declarative (`macro_rules!`), exported at the crate's root. What their expansions
//! call at run time goes through `nbio::__private`: the draw of `select!`'s first branch (from
//! the executor's seeded generator, `executor/seed.rs`) and the poll of one joined future
//! (`join.rs`). This layer names no other: a macro's `$crate::` paths are resolved where it is
//! used, not here.

pub(crate) mod join;
mod select;

/// The names a macro gives the futures it polls, one slot per future: its number, the variant
/// of `select!`'s output, the pinned future, and `join!`'s output. Macro-made names are
/// hygienic: code inside a branch can not see them. The list is why the macros take at most 64
/// futures (and `select!` keeps its enabled branches in the bits of a `u64`).
#[doc(hidden)]
#[macro_export]
macro_rules! __nbio_slots {
    ($($macro:tt)*) => {
        $crate::__nbio_with_slots!([
            (0 _0 __f0 __o0) (1 _1 __f1 __o1) (2 _2 __f2 __o2) (3 _3 __f3 __o3) (4 _4 __f4 __o4)
            (5 _5 __f5 __o5) (6 _6 __f6 __o6) (7 _7 __f7 __o7) (8 _8 __f8 __o8) (9 _9 __f9 __o9)
            (10 _10 __f10 __o10) (11 _11 __f11 __o11) (12 _12 __f12 __o12) (13 _13 __f13 __o13)
            (14 _14 __f14 __o14) (15 _15 __f15 __o15) (16 _16 __f16 __o16) (17 _17 __f17 __o17)
            (18 _18 __f18 __o18) (19 _19 __f19 __o19) (20 _20 __f20 __o20) (21 _21 __f21 __o21)
            (22 _22 __f22 __o22) (23 _23 __f23 __o23) (24 _24 __f24 __o24) (25 _25 __f25 __o25)
            (26 _26 __f26 __o26) (27 _27 __f27 __o27) (28 _28 __f28 __o28) (29 _29 __f29 __o29)
            (30 _30 __f30 __o30) (31 _31 __f31 __o31) (32 _32 __f32 __o32) (33 _33 __f33 __o33)
            (34 _34 __f34 __o34) (35 _35 __f35 __o35) (36 _36 __f36 __o36) (37 _37 __f37 __o37)
            (38 _38 __f38 __o38) (39 _39 __f39 __o39) (40 _40 __f40 __o40) (41 _41 __f41 __o41)
            (42 _42 __f42 __o42) (43 _43 __f43 __o43) (44 _44 __f44 __o44) (45 _45 __f45 __o45)
            (46 _46 __f46 __o46) (47 _47 __f47 __o47) (48 _48 __f48 __o48) (49 _49 __f49 __o49)
            (50 _50 __f50 __o50) (51 _51 __f51 __o51) (52 _52 __f52 __o52) (53 _53 __f53 __o53)
            (54 _54 __f54 __o54) (55 _55 __f55 __o55) (56 _56 __f56 __o56) (57 _57 __f57 __o57)
            (58 _58 __f58 __o58) (59 _59 __f59 __o59) (60 _60 __f60 __o60) (61 _61 __f61 __o61)
            (62 _62 __f62 __o62) (63 _63 __f63 __o63)
        ] $($macro)*)
    };
}

/// Hands the slots to the macro that asked for them.
#[doc(hidden)]
#[macro_export]
macro_rules! __nbio_with_slots {
    ([$($slots:tt)*] select $bias:ident $($branches:tt)*) => {
        $crate::__select_parse!(@munch $bias [$($slots)*] [] [] [] $($branches)*)
    };
    ([$($slots:tt)*] $kind:ident $($futures:tt)*) => {
        $crate::__join_parse!($kind [$($slots)*] [] $($futures)*)
    };
}
