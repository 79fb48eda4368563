#!/usr/bin/env bash
# bench/engine/run.sh: the engine benchmark matrix in one run. Runs
# ringkv-engine-bench for each (count, value size, sync) cell below, against
# every engine, and prints one markdown report (header + tables) on stdout and
# into bench/results/engine-<date>-<time>.md. See bench/README.md.
#
#   bench/engine/run.sh              full matrix
#   bench/engine/run.sh --quick      smoke run, tiny counts (numbers mean nothing)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
PROG=${0##*/}

die()  { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
note() { printf '%s\n' "$*" >&2; }

usage() {
  cat <<'EOF2'
usage: bench/engine/run.sh [--quick] [--engines LIST] [--help]

  --quick         tiny counts, for a smoke run
  --engines LIST  comma-separated engines [rocksdb,leveldb,ringkv]

Environment (defaults in brackets; QUICK values after the semicolon):
  ENGINE_BENCH_BIN  the harness            [build/ringkv-engine-bench]
  NUM_SMALL         keys with 100 B values, sync off  [1000000; 10000]
  NUM_LARGE         keys with 1 KiB values, sync off  [200000; 2000]
  NUM_SYNC          keys per cell with sync on        [20000; 500]
  BENCH_DIR         parent of the temp databases      [${TMPDIR:-/tmp}]
  TIME_LIMIT        seconds before the run gives up   [1500; 300]
  OUT_DIR           where the report goes             [bench/results]
EOF2
}

QUICK=0
ENGINES=rocksdb,leveldb,ringkv
while (( $# > 0 )); do
  case $1 in
    --quick) QUICK=1 ;;
    --engines) (( $# > 1 )) || die "--engines needs a list"; ENGINES=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done

if [[ $QUICK == 1 ]]; then
  : "${NUM_SMALL:=10000}" "${NUM_LARGE:=2000}" "${NUM_SYNC:=500}" "${TIME_LIMIT:=300}"
else
  : "${NUM_SMALL:=1000000}" "${NUM_LARGE:=200000}" "${NUM_SYNC:=20000}" "${TIME_LIMIT:=1500}"
fi
BIN=${ENGINE_BENCH_BIN:-build/ringkv-engine-bench}
[[ $BIN == /* ]] || BIN=$REPO_ROOT/$BIN
[[ -x $BIN ]] || die "$BIN not found: build it with cmake --build build --target ringkv-engine-bench (needs librocksdb-dev libleveldb-dev: scripts/deps.sh)"
OUT_DIR=${OUT_DIR:-$REPO_ROOT/bench/results}
command -v timeout >/dev/null || die "timeout (coreutils) not found"

WORK=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/ringkv-engine-run.XXXXXX")
cleanup() { rm -rf -- "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# The matrix: count, value bytes, sync flag.
CELLS=(
  "$NUM_SMALL 100 off"
  "$NUM_LARGE 1024 off"
  "$NUM_SYNC 100 on"
  "$NUM_SYNC 1024 on"
)

STAMP=$(date '+%Y-%m-%d-%H%M%S')
SUFFIX=""
[[ $QUICK == 0 ]] || SUFFIX=-quick
REPORT=$OUT_DIR/engine-$STAMP$SUFFIX.md
BODY=$WORK/body.md
START=$SECONDS

# run_cell NUM VALUE SYNC: one section of the report.
run_cell() {
  local num=$1 value=$2 sync=$3 left t0 load0
  left=$(( TIME_LIMIT - (SECONDS - START) ))
  (( left > 0 )) || die "TIME_LIMIT ($TIME_LIMIT s) reached before the cell $num x $value B, sync $sync"
  local args=(--no-header --num "$num" --value-size "$value" --engines "$ENGINES" --dir "$WORK")
  [[ $sync == on ]] && args+=(--sync)
  note "== $num keys x $value B values, sync $sync (up to $left s left)"
  load0=$(cut -d' ' -f1 /proc/loadavg)
  t0=$SECONDS
  {
    printf '## %s keys, 16 B keys + %s B values, sync %s\n\n' "$num" "$value" "$sync"
    timeout "$left" "$BIN" "${args[@]}" || die "ringkv-engine-bench failed or ran past TIME_LIMIT (exit $?)"
    printf 'Cell wall time %s s; load average %s before, %s after.\n\n' \
      "$(( SECONDS - t0 ))" "$load0" "$(cut -d' ' -f1 /proc/loadavg)"
  } >>"$BODY"
}

for cell in "${CELLS[@]}"; do
  # shellcheck disable=SC2086
  run_cell $cell
done
ELAPSED=$(( SECONDS - START ))

HEADER=$WORK/header.md
{
  printf '# ringkv engine benchmark: %s%s\n\n' "$STAMP" "${SUFFIX:+ (quick)}"
  if [[ $QUICK == 1 ]]; then
    printf '**--quick smoke run: the counts are tiny and the numbers mean nothing.**\n\n'
  fi
  "$BIN" --header-only --engines "$ENGINES" --dir "$WORK" 2>/dev/null
  printf -- '- Repo %s; harness %s (built %s)\n' \
    "$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" "${BIN#"$REPO_ROOT"/}" \
    "$(date -r "$BIN" '+%Y-%m-%d %H:%M:%S')"
  printf -- '- Matrix: %s x 100 B and %s x 1 KiB with sync off; %s x 100 B and %s x 1 KiB with sync on\n' \
    "$NUM_SMALL" "$NUM_LARGE" "$NUM_SYNC" "$NUM_SYNC"
  printf -- '- Engines run one after the other in one process per cell, in the order %s; nothing is pinned\n' "$ENGINES"
  printf -- '- Wall time: %s s for the whole matrix\n\n' "$ELAPSED"
} >"$HEADER"

mkdir -p "$OUT_DIR"
cat "$HEADER" "$BODY" >"$REPORT"
cat "$REPORT"
note "Report: ${REPORT#"$REPO_ROOT"/}"
