#!/usr/bin/env bash
# Long runs of the two property tests: the stream state machine (tests/tests/stream_model.rs:
# random partial reads, writes, WouldBlocks, half-closes and resets against a reference model)
# and the timer schedules (tests/tests/timer_properties.rs), with many more cases than
# `cargo test` runs. A failure prints the shortest failing sequence proptest could shrink it to.
# See docs/reliability.md.
#
#   scripts/fuzz.sh                               20,000 sequences, 2,000 schedules, release
#   STREAM_CASES=100000 TIMER_CASES=0 scripts/fuzz.sh
#   PROFILE=dev scripts/fuzz.sh                   the debug build `cargo test` already made
set -euo pipefail
cd "$(dirname "$0")/.."

STREAM_CASES=${STREAM_CASES:-20000}
TIMER_CASES=${TIMER_CASES:-2000}
PROFILE=${PROFILE:-release}

if [ "$STREAM_CASES" -gt 0 ]; then
    echo "fuzz.sh: $STREAM_CASES stream sequences ($PROFILE)"
    PROPTEST_CASES=$STREAM_CASES cargo test --profile "$PROFILE" -p nbio-tests \
        --test stream_model -- --nocapture
fi
if [ "$TIMER_CASES" -gt 0 ]; then
    # Each schedule lasts its deadlines, some 50 ms, whatever the build: about 20 per second.
    echo "fuzz.sh: $TIMER_CASES timer schedules ($PROFILE)"
    PROPTEST_CASES=$TIMER_CASES cargo test --profile "$PROFILE" -p nbio-tests \
        --test timer_properties timers_never -- --nocapture
fi
