#!/usr/bin/env bash
# W8: the same hyper hello-world server on nbio, tokio (current_thread, multi_thread with two
# workers) and smol, driven by wrk (2 threads, 50 connections), in one run; prints a markdown
# table of requests/s, p50 and p99 latency (median of the runs, with their spread) and CPU
# per request, with the ratios to tokio current_thread. See runtime/benches/http.rs.
#
#   bash scripts/bench-http.sh                  5 runs of 3 s per runtime, interleaved (~1.5 min)
#   NBIO_HTTP_RUNS=9 NBIO_HTTP_SECONDS=5 bash scripts/bench-http.sh
#   NBIO_HTTP_RUNTIMES="nbio,tokio current_thread" bash scripts/bench-http.sh
#   NBIO_HTTP_SYSCALLS=strace bash scripts/bench-http.sh   syscalls per request (strace -f -c)
#   NBIO_HTTP_SYSCALLS=perf bash scripts/bench-http.sh     the same with perf stat, which slows
#                                                          the server far less
#
# Installs wrk from Debian's packages when it is missing (apt-get, as root), and strace or
# perf when the syscall count asks for them. Run it on an otherwise idle machine: the load
# generator and the server share its cores.
set -euo pipefail
cd "$(dirname "$0")/.."

install() {
    # $1: the command wanted; $2: the Debian package that has it.
    if ! command -v "$1" >/dev/null; then
        echo "bench-http.sh: installing $2 (apt-get install -y $2)" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    fi
}

install wrk wrk
case "${NBIO_HTTP_SYSCALLS:-}" in
    strace) install strace strace ;;
    perf) install perf linux-perf ;;
esac

exec cargo bench -p nbio --features hyper --bench http
