#!/usr/bin/env bash
# bench/overhead.sh - what do memory accounting and latency histograms cost?
#
# Starts two ringkv servers side by side on loopback, both --threads 1:
#   off: --latency-tracking no  --maxmemory 0      (no histograms, no accounting)
#   on:  --latency-tracking yes --maxmemory 64gb   (histograms, and the per-command
#        memory accounting that a memory limit turns on; 64gb is never reached)
# fills both with the same keys, then runs the same redis-benchmark rows against each
# in turns (ROUNDS rounds, who goes first alternating) and prints the median req/s,
# p50 and p99 of each with the ratio on/off. Servers on CPU 0, the client on CPU 1.
#
# Knobs: ROUNDS (5), REQUESTS (1000000, pipeline 16), REQUESTS_P1 (300000),
#        KEYSPACE (1000000), RINGKV_BIN (build/ringkv-server), SIZE (64).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
REQUESTS=${REQUESTS:-1000000}
REQUESTS_P1=${REQUESTS_P1:-300000}
KEYSPACE=${KEYSPACE:-1000000}
SIZE=${SIZE:-64}
BIN=${RINGKV_BIN:-build/ringkv-server}
[[ -x $BIN ]] || { echo "overhead.sh: $BIN not built (make build)" >&2; exit 1; }
command -v redis-benchmark >/dev/null || { echo "overhead.sh: redis-benchmark missing" >&2; exit 1; }

TMP=$(mktemp -d /tmp/ringkv-overhead.XXXXXX)
declare -A PID PORT
cleanup() {
  for n in "${!PID[@]}"; do kill "${PID[$n]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() {  # start NAME ARGS...
  local name=$1; shift
  PORT[$name]=$(free_port)
  mkdir -p "$TMP/$name"
  taskset -c 0 "$BIN" --port "${PORT[$name]}" --bind 127.0.0.1 --dir "$TMP/$name" --threads 1 \
    --http-port 0 "$@" >"$TMP/$name.log" 2>&1 &
  PID[$name]=$!
  for _ in $(seq 100); do
    redis-cli -p "${PORT[$name]}" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "overhead.sh: $name did not start:" >&2; cat "$TMP/$name.log" >&2; exit 1
}

start off --latency-tracking no --maxmemory 0
start on --latency-tracking yes --maxmemory 64gb
for n in off on; do
  taskset -c 1 redis-benchmark -p "${PORT[$n]}" -t set -r "$KEYSPACE" -n $((KEYSPACE * 3)) \
    -d "$SIZE" -P 64 -q >/dev/null 2>&1
done

run() {  # run NAME TEST PIPELINE -> "rps p50 p99"
  local n=$1 t=$2 p=$3 count=$REQUESTS
  (( p == 1 )) && count=$REQUESTS_P1
  timeout 300 taskset -c 1 redis-benchmark -p "${PORT[$n]}" -c 50 -r "$KEYSPACE" -d "$SIZE" \
    -P "$p" -n "$count" -t "$t" --csv | tail -1 | tr -d '"' | awk -F, '{print $2, $5, $7}'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "| test | pipeline | off req/s | on req/s | on/off | off p50 | on p50 | off p99 | on p99 |"
echo "| ---- | -------- | --------: | -------: | -----: | ------: | -----: | ------: | -----: |"
for t in set get; do
  for p in 1 16; do
    : >"$TMP/r.off"; : >"$TMP/r.on"
    for r in $(seq "$ROUNDS"); do
      order="off on"; (( r % 2 == 0 )) && order="on off"
      for n in $order; do run "$n" "$t" "$p" >>"$TMP/r.$n"; done
    done
    declare -A RPS P50 P99
    for n in off on; do
      RPS[$n]=$(awk '{print $1}' "$TMP/r.$n" | median)
      P50[$n]=$(awk '{print $2}' "$TMP/r.$n" | median)
      P99[$n]=$(awk '{print $3}' "$TMP/r.$n" | median)
    done
    ratio=$(awk -v a="${RPS[on]}" -v b="${RPS[off]}" 'BEGIN {printf "%.3f", a / b}')
    printf '| %s | %s | %.0f | %.0f | %s | %s | %s | %s | %s |\n' "${t^^}" "$p" "${RPS[off]}" \
      "${RPS[on]}" "$ratio" "${P50[off]}" "${P50[on]}" "${P99[off]}" "${P99[on]}"
  done
done
echo
echo "$ROUNDS rounds, medians; $SIZE-byte values, $KEYSPACE keys, 50 clients; $(nproc) CPUs,"
echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
