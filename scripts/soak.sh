#!/usr/bin/env bash
# The load, storm and fault tests, run again and again in release mode, where the runtime is
# fastest and the races between its threads are tightest: a rare lost wakeup or lost readiness
# event shows up as a watchdog failure in some round. See docs/reliability.md.
#
#   scripts/soak.sh             20 rounds
#   ROUNDS=200 scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-20}
TESTS=(wake_storm wakeups readiness faults sigpipe load_connections connection_churn
       accept_pressure stream_model)
args=()
for test in "${TESTS[@]}"; do
    args+=(--test "$test")
done

cargo test --release -p nbio-tests "${args[@]}" --no-run
started=$SECONDS
for round in $(seq "$ROUNDS"); do
    if ! cargo test --release -q -p nbio-tests "${args[@]}" >target/soak-round.log 2>&1; then
        cat target/soak-round.log
        echo "soak.sh: round $round of $ROUNDS FAILED" >&2
        exit 1
    fi
    echo "soak.sh: round $round of $ROUNDS passed ($((SECONDS - started)) s so far)"
done
echo "soak.sh: $ROUNDS rounds passed in $((SECONDS - started)) s"
