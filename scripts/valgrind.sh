#!/usr/bin/env bash
# valgrind memcheck over nbio's unit tests and the integration tests that exercise its unsafe
# code: task allocation and reference counts, wakers, the registry of live tasks, the reactor's
# sources and timers, shutdown, the oneshot channel's shared block and the mutex's cell. A
# test binary fails the run if memcheck finds an invalid read or write, a use of uninitialised
# memory, a bad free, or memory definitely or indirectly lost at exit; or if one of its tests
# fails. See docs/reliability.md.
#
#   scripts/valgrind.sh                 every binary in TESTS below (about 5 minutes)
#   scripts/valgrind.sh join shutdown   only these
#
# Needs valgrind (apt-get install -y valgrind). Builds into target/valgrind, apart from the
# normal build, because of the flag below.
set -euo pipefail
cd "$(dirname "$0")/.."

# The binaries checked: the library's unit tests (`nbio`), its own integration tests, and the
# workspace tests. Left out, on purpose:
#   idle_cpu, accept_pressure  they bound the CPU time a runtime uses; under valgrind the CPU
#                              is valgrind's, and the bound means nothing.
#   load_connections           16,000 sockets through the same code as tcp and
#                              connection_churn; under valgrind it measures valgrind.
#   mt_io                      500 connections through the same code as mt_scheduling and tcp.
# A new test file is not picked up by itself: add it here.
TESTS=(nbio observe wait_graph budget abandoned blocking_trace
       join runtime_drop panics shutdown block_on stats wakeups wake_storm
       stream_model faults timers timer_properties tcp readiness readiness_contract fd_reuse
       sigpipe udp unix unix_datagram fd_passing socket_options io_traits fairness connection_churn
       mt_scheduling mt_wakes mt_lifecycle mt_idle_wakes
       sync_closed sync_delivery sync_backpressure sync_cancel sync_fairness sync_mutex
       sync_notify sync_semaphore sync_runtimes sync_who_waits sync_reentrant_wakers
       sync_barrier sync_once_cell sync_cancellation_token sync_reentrant sync_dump_waits
       sync_broadcast sync_watch
       sync_rwlock sync_owned
       blocking blocking_shutdown fs fs_dirs fs_open_options fs_file_extra async_fd signals
       join_set lookup mt_blocking mt_spawn_burst
       vectored drained_reads poll_forms hyper_io select join_macros task_local
       process process_many sync_mpsc_extras sync_mpsc_weak_blocking
       rt_entry block_in_place interval_missed io_cancel io_stdio io_copy io_duplex io_read_buf
       cycle_policy sim_tcp sim_udp sim_faults sim_determinism sim_liveness sim_leaks sim_dump sim_trace)

# Tests skipped inside a binary, with the reason.
#   readiness_contract: the two loops that must not spin are bounded by the CPU time of the
#   runtime's thread; under valgrind that CPU is valgrind's (the same code paths run in the
#   other tests of the binary).
#   readiness_contract (writable of a full socket): the test lets the kernel move what it can
#   to the peer in 20 ms pauses before it calls the socket full; under valgrind on a busy
#   machine the loopback transfer can still be going after them, and room frees for real.
#   mt_wakes: the million wakes are the wake_storm test's work on two workers; under valgrind
#   (which runs one thread at a time) it takes many minutes. The exact-counters test runs.
#   timers: two tests measure wall time in milliseconds (a 20 ms sleep still pending after
#   its first poll; an interval of 5 ms periods), which valgrind's slowdown stretches past
#   them. The other timer tests run the same code.
#   process (a missing program): glibc's posix_spawn reports a failed exec through memory it
#   shares with the child (CLONE_VM | CLONE_VFORK); valgrind runs the child as a fork, so the
#   report never arrives and the spawn "succeeds". (Valgrind 3.19 also does not know
#   pidfd_open, syscall 434: under it every child takes the blocking pool's path, so valgrind
#   checks that path; the pidfd path is checked by the normal run.)
#   nbio (the watchdog's flag): the test holds a poll open for 2.5 thresholds (100 ms) and
#   needs the watchdog thread to look at it twice in that time; valgrind runs one thread at a
#   time and can leave the watchdog unscheduled past it. The watchdog's other tests run.
#   sim_faults (the livelock): a million polls at one virtual instant is minutes under valgrind;
#   the same poll path runs in every other sim test. (sim_kv, 2,000 whole simulations, is left
#   out of the list for the same reason: it runs nothing the other sim tests do not.)
declare -A SKIP=(
    [nbio]="--skip observe::watchdog::tests::a_poll_over_twice_the_threshold_long_is_flagged_whenever_it_starts"
    [sim_faults]="--skip a_task_that_never_waits_fails_the_run_as_a_livelock_instead_of_hanging"
    [readiness_contract]="--skip a_readable_and_try_read_loop_sleeps --skip a_readable_and_try_recv_loop_sleeps --skip writable_waits_while_the_send_buffer_is_full"
    [mt_wakes]="--skip a_million_wakes"
    [timers]="--skip a_sleep_first_polled_on_one_runtime_completes_on_another --skip interval_told_to_skip_skips_missed_ticks_instead_of_delivering_a_burst"
    [process]="--skip a_missing_program_is_not_found_and_named"
)

if ! command -v valgrind >/dev/null; then
    echo "valgrind.sh: valgrind is not installed (apt-get install -y valgrind)" >&2
    exit 2
fi
if [ $# -gt 0 ]; then
    TESTS=("$@")
fi

# rustix's default backend finds the vDSO through the auxiliary vector and reads it directly;
# valgrind does not map it there, and the first clock_gettime crashes (rustix issue #1559).
# rustix's libc backend goes through glibc, which valgrind understands. nbio's code is the
# same either way: only the layer under its syscalls changes.
export RUSTFLAGS="${RUSTFLAGS:-} --cfg rustix_use_libc"
export CARGO_TARGET_DIR=target/valgrind
# Watchdogs and timeouts in the tests are multiplied by this: code under valgrind runs tens
# of times slower. Property tests run fewer cases than in the normal suite.
export NBIO_TEST_SLOWDOWN=40
export PROPTEST_CASES=16

logs=target/valgrind/logs
mkdir -p "$logs"
echo "valgrind.sh: building the test binaries (RUSTFLAGS=$RUSTFLAGS)"
cargo test -p nbio -p nbio-tests --lib --tests --no-run --message-format=json \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' >"$logs/binaries.txt"

failed=0
checked=0
started_all=$SECONDS
printf '%-18s %7s  %-9s %-22s %s\n' binary seconds memcheck "definitely lost" tests
for name in "${TESTS[@]}"; do
    binary=$(grep -E "/${name}-[0-9a-f]+$" "$logs/binaries.txt" | head -1 || true)
    if [ -z "$binary" ]; then
        echo "valgrind.sh: no test binary named $name" >&2
        failed=1
        continue
    fi
    started=$SECONDS
    status=0
    # shellcheck disable=SC2086 # SKIP holds several arguments
    valgrind --tool=memcheck --error-exitcode=1 \
        --leak-check=full --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect \
        --fair-sched=yes --num-callers=40 \
        --log-file="$logs/$name.valgrind" \
        "$binary" --test-threads=2 ${SKIP[$name]:-} >"$logs/$name.out" 2>&1 || status=$?
    checked=$((checked + 1))
    errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$logs/$name.valgrind" | tail -1)
    lost=$(sed -n 's/.*definitely lost: \([0-9,]* bytes in [0-9,]* blocks\).*/\1/p' "$logs/$name.valgrind" | tail -1)
    result=$(grep -E '^test result' "$logs/$name.out" | tail -1 | sed 's/^test result: //; s/; 0 ignored.*//; s/; finished.*//')
    printf '%-18s %7s  %-9s %-22s %s\n' "$name" $((SECONDS - started)) "${errors:-?} errors" \
        "${lost:-0 bytes in 0 blocks}" "${result:-no result}"
    if [ "$status" -ne 0 ]; then
        failed=1
        echo "valgrind.sh: $name failed (exit $status); valgrind's report:" >&2
        grep -E '^==[0-9]+== ' "$logs/$name.valgrind" | head -60 >&2
        echo "--- the tests' output (last lines):" >&2
        tail -30 "$logs/$name.out" >&2
    fi
done
echo "valgrind.sh: $checked binaries in $((SECONDS - started_all)) s; logs in $logs"
if [ "$failed" -ne 0 ]; then
    echo "valgrind.sh: FAILED" >&2
    exit 1
fi
echo "valgrind.sh: no memcheck error, nothing definitely or indirectly lost"
