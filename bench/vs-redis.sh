#!/usr/bin/env bash
# bench/vs-redis.sh: ringkv vs redis-server, same redis-benchmark runs on
# each, in turns, on loopback. See bench/README.md for what it measures, the
# knobs and how to read the table.
#
#   bench/vs-redis.sh                 full run (defaults below)
#   QUICK=1 bench/vs-redis.sh         smoke run with tiny counts
#   bench/vs-redis.sh --self-test     QUICK run with redis-server standing in
#                                     for ringkv (tests this script alone)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
PROG=${0##*/}
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"

die()  { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
note() { printf '%s\n' "$*" >&2; }

usage() {
  cat <<'EOF'
usage: bench/vs-redis.sh [--help]

Environment (defaults in brackets):
  THREADS      ringkv --threads                                   [1]
  ROUNDS       runs per row; the median is reported               [3]
  REQUESTS     requests per row at pipeline > 1                   [1000000]
  REQUESTS_P1  requests per row at pipeline 1                     [300000]
  KEYSPACE     redis-benchmark -r, and keys filled before rows    [1000000]
  CLIENTS      redis-benchmark -c                                 [50]
  SIZES        value sizes in bytes (-d)                          ["64 1024"]
  PIPELINES    pipeline depths (-P)                               ["1 16"]
  TESTS        redis-benchmark tests (-t), in this order          ["set get"]
  FILL         pipe: every key written once with redis-cli --pipe;
               bench: redis-benchmark -t set, 3 x KEYSPACE random [pipe]
  RINGKV_BIN   ringkv server binary                   [build/ringkv-server]
  DURABILITY   memory: ringkv --engine memory vs Redis without persistence;
               everysec / always: ringkv --engine lsm --fsync MODE vs Redis
               --appendonly yes --appendfsync MODE             [memory]
  RINGKV_ARGS  extra ringkv arguments, split on whitespace        [none]
  REDIS_BIN    redis server binary                    [redis-server on PATH]
  PIN          1: servers on one CPU, redis-benchmark on another  [1]
  SERVER_CPU / BENCH_CPU  the CPUs PIN uses     [first two CPUs allowed]
  QUICK        1: tiny counts, one round, for a smoke run         [0]
  TIME_LIMIT   seconds before the whole run gives up         [1500; QUICK 300]
  RUN_TIMEOUT  seconds one redis-benchmark run may take      [300]
  OUT_DIR      where the markdown report goes             [bench/results]
  KEEP_TMP     1: keep the servers' temp dirs and logs        [0]
EOF
}

SELF_TEST=0
for arg in "$@"; do
  case $arg in
    --self-test) SELF_TEST=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $arg" ;;
  esac
done

# --self-test: a QUICK run of this script with redis-server as "ringkv".
if [[ $SELF_TEST == 1 ]]; then
  : "${QUICK:=1}"
  : "${RINGKV_BIN:=$(command -v redis-server || echo redis-server)}"
  RINGKV_FLAVOR=redis
fi

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
  : "${ROUNDS:=1}" "${REQUESTS:=20000}" "${REQUESTS_P1:=5000}"
  : "${KEYSPACE:=10000}" "${TIME_LIMIT:=300}"
fi
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-1000000}
REQUESTS_P1=${REQUESTS_P1:-300000}
KEYSPACE=${KEYSPACE:-1000000}
CLIENTS=${CLIENTS:-50}
SIZES=${SIZES:-"64 1024"}
PIPELINES=${PIPELINES:-"1 16"}
TESTS=${TESTS:-"set get"}
FILL=${FILL:-pipe}
RINGKV_BIN=${RINGKV_BIN:-build/ringkv-server}
RINGKV_ARGS=${RINGKV_ARGS:-}
REDIS_BIN=${REDIS_BIN:-redis-server}
PIN=${PIN:-1}
TIME_LIMIT=${TIME_LIMIT:-1500}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
START_TIMEOUT=${START_TIMEOUT:-10}
OUT_DIR=${OUT_DIR:-$REPO_ROOT/bench/results}
KEEP_TMP=${KEEP_TMP:-0}
HOST=127.0.0.1

# ---- checks ---------------------------------------------------------------

is_uint() { [[ $1 =~ ^[0-9]+$ ]] && (( 10#$1 > 0 )); }
for v in THREADS ROUNDS REQUESTS REQUESTS_P1 KEYSPACE CLIENTS TIME_LIMIT RUN_TIMEOUT START_TIMEOUT; do
  is_uint "${!v}" || die "$v must be a positive integer (got '${!v}')"
done
for v in $SIZES $PIPELINES; do is_uint "$v" || die "SIZES/PIPELINES must be positive integers (got '$v')"; done
for t in $TESTS; do
  [[ $t == set || $t == get ]] || die "TESTS may hold only 'set' and 'get' (got '$t')"
done
[[ $FILL == pipe || $FILL == bench ]] || die "FILL must be 'pipe' or 'bench' (got '$FILL')"
(( KEYSPACE <= 999999999999 )) || die "KEYSPACE must fit redis-benchmark's 12-digit keys"

for tool in redis-benchmark redis-cli timeout awk sort; do
  command -v "$tool" >/dev/null || die "'$tool' not found on PATH (Debian: apt-get install redis-tools coreutils)"
done

# Binaries: a relative RINGKV_BIN is relative to the repository root.
resolve_bin() {
  local b=$1
  if [[ $b == */* ]]; then
    [[ $b == /* ]] || b=$REPO_ROOT/$b
  else
    b=$(command -v "$b" || true)
  fi
  printf '%s' "$b"
}
RINGKV_PATH=$(resolve_bin "$RINGKV_BIN")
REDIS_PATH=$(resolve_bin "$REDIS_BIN")
[[ -n $RINGKV_PATH && -f $RINGKV_PATH && -x $RINGKV_PATH ]] ||
  die "ringkv binary not found or not executable: '$RINGKV_BIN' (build it with 'make build', or set RINGKV_BIN)"
[[ -n $REDIS_PATH && -f $REDIS_PATH && -x $REDIS_PATH ]] ||
  die "redis-server not found or not executable: '$REDIS_BIN' (Debian: apt-get install redis-server, or set REDIS_BIN)"

# A RINGKV_BIN that is really redis-server (the self-test) gets redis-style
# arguments; RINGKV_FLAVOR=ringkv|redis overrides the guess.
if [[ -z ${RINGKV_FLAVOR:-} ]]; then
  real=$(readlink -f "$RINGKV_PATH")
  case "${RINGKV_PATH##*/} ${real##*/}" in
    redis-server*|*" redis-server"*|*" redis-check-rdb"*) RINGKV_FLAVOR=redis ;;
    *) RINGKV_FLAVOR=ringkv ;;
  esac
fi
[[ $RINGKV_FLAVOR == ringkv || $RINGKV_FLAVOR == redis ]] || die "RINGKV_FLAVOR must be 'ringkv' or 'redis'"
read -r -a RINGKV_EXTRA <<<"$RINGKV_ARGS"
DURABILITY=${DURABILITY:-memory}
case $DURABILITY in memory|everysec|always) ;; *) die "DURABILITY must be memory, everysec or always" ;; esac

# Pinning. Both servers share SERVER_CPU (never pinned differently), the
# load generator gets BENCH_CPU.
NPROC=$(nproc)
allowed_cpus() {  # expands "0-2,5" from our affinity mask into "0 1 2 5"
  taskset -pc $$ 2>/dev/null | sed 's/.*: *//' | tr ',' '\n' |
    awk -F- 'NF==2{for(i=$1;i<=$2;i++)printf "%d ",i; next} NF==1&&$1!=""{printf "%d ",$1}'
}
SERVER_PIN=() BENCH_PIN=()
if [[ $PIN == 1 ]]; then
  if (( NPROC < 2 )); then
    warn "PIN=1 but nproc is $NPROC: running unpinned"
    PIN=0
  else
    command -v taskset >/dev/null || die "PIN=1 needs taskset (util-linux), or run with PIN=0"
    read -r -a cpus <<<"$(allowed_cpus)"
    (( ${#cpus[@]} >= 2 )) || die "PIN=1: cannot read this process's CPU list; set SERVER_CPU and BENCH_CPU, or PIN=0"
    SERVER_CPU=${SERVER_CPU:-${cpus[0]}}
    BENCH_CPU=${BENCH_CPU:-${cpus[1]}}
    [[ $SERVER_CPU != "$BENCH_CPU" ]] || die "SERVER_CPU and BENCH_CPU must differ"
    taskset -c "$SERVER_CPU" true 2>/dev/null || die "cannot pin to SERVER_CPU=$SERVER_CPU"
    taskset -c "$BENCH_CPU" true 2>/dev/null || die "cannot pin to BENCH_CPU=$BENCH_CPU"
    SERVER_PIN=(taskset -c "$SERVER_CPU")
    BENCH_PIN=(taskset -c "$BENCH_CPU")
    if (( THREADS > 1 )) && [[ $RINGKV_FLAVOR == ringkv ]]; then
      warn "THREADS=$THREADS with PIN=1: all ringkv threads share CPU $SERVER_CPU (use PIN=0 on a bigger machine to measure scaling)"
    fi
  fi
elif [[ $PIN != 0 ]]; then
  die "PIN must be 0 or 1 (got '$PIN')"
fi

SETSID=()
command -v setsid >/dev/null && SETSID=(setsid)

# ---- state and cleanup ----------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ringkv-vs-redis.XXXXXX")
declare -A PID=() PORT=() DIR=() LOG=()
CHILD_PID=""
USED_PORTS=" "

stop_pid() {  # TERM, up to 5 s, then KILL; only our own children are passed here
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for (( i = 0; i < 50; i++ )); do
    kill -0 "$pid" 2>/dev/null || break
    # A zombie still answers kill -0: reap it if it has exited.
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]] && break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

stop_server() {
  local name=$1
  if [[ -n ${PID[$name]:-} ]]; then
    stop_pid "${PID[$name]}"
    PID[$name]=""
  fi
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $CHILD_PID ]]; then stop_pid "$CHILD_PID"; CHILD_PID=""; fi
  stop_server ringkv
  stop_server redis
  if [[ $KEEP_TMP == 1 ]]; then
    note "temp dir kept: $WORK"
  else
    rm -rf -- "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'note "interrupted"; exit 130' INT
trap 'note "terminated"; exit 143' TERM

# ---- time bound -----------------------------------------------------------

DEADLINE=$(( SECONDS + TIME_LIMIT ))
time_left() { echo $(( DEADLINE - SECONDS )); }
bounded_secs() {  # min(wanted, time left); dies when no time is left
  local want=$1 left
  left=$(time_left)
  (( left > 0 )) || die "TIME_LIMIT=${TIME_LIMIT}s reached; giving up (raise TIME_LIMIT or lower the counts)"
  (( want < left )) && echo "$want" || echo "$left"
}

# run_bounded SERVER SECS OUT ERR CMD...: runs CMD under timeout in the
# background, stdout to OUT and stderr to ERR, and waits for it, so that
# INT/TERM reach our trap at once (and its messages reach our stderr). If
# SERVER exits meanwhile, CMD is stopped and we die: a client of a dead server
# can hang. Returns CMD's status; 124 or 137 on timeout.
run_bounded() {
  local server=$1 secs=$2 out=$3 err=$4 rc=0 done_pid=""
  shift 4
  check_alive "$server"
  # <&0: a background job would otherwise get /dev/null as its stdin.
  timeout -k 5 "$secs" "$@" <&0 >"$out" 2>"$err" &
  CHILD_PID=$!
  wait -n -p done_pid "$CHILD_PID" "${PID[$server]}" || rc=$?
  if [[ $done_pid != "$CHILD_PID" ]]; then
    # The server went first (reaped now: forget its pid before anything
    # could reuse it).
    PID[$server]=""
    stop_pid "$CHILD_PID"
    CHILD_PID=""
    show_log "$server"
    die "$server exited (status $rc) during: $*"
  fi
  CHILD_PID=""
  return "$rc"
}

quote_cmd() {  # a command line as one shell-quoted string
  local out="" a
  for a in "$@"; do out+="${out:+ }$(printf '%q' "$a")"; done
  printf '%s' "$out"
}

# ---- servers --------------------------------------------------------------

port_free() { ! (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
pick_port() {  # sets PICKED: below the usual ephemeral range, not used before
  local p i
  for (( i = 0; i < 200; i++ )); do
    p=$(( 20000 + RANDOM % 12000 ))
    [[ $USED_PORTS == *" $p "* ]] && continue
    if port_free "$p"; then USED_PORTS+="$p "; PICKED=$p; return 0; fi
  done
  die "no free port found on $HOST"
}

server_cmd() {  # server_cmd NAME PORT DIR -> SERVER_CMD array
  local name=$1 port=$2 dir=$3
  local -a redis_persist=(--save '' --appendonly no) ringkv_persist=(--engine memory)
  if [[ $DURABILITY != memory ]]; then
    redis_persist=(--save '' --appendonly yes --appendfsync "$DURABILITY")
    ringkv_persist=(--engine lsm --fsync "$DURABILITY")
  fi
  if [[ $name == ringkv && $RINGKV_FLAVOR == ringkv ]]; then
    SERVER_CMD=("$RINGKV_PATH" --port "$port" --bind "$HOST" --dir "$dir" --threads "$THREADS" "${ringkv_persist[@]}" "${RINGKV_EXTRA[@]}")
  elif [[ $name == ringkv ]]; then
    SERVER_CMD=("$RINGKV_PATH" "${redis_persist[@]}" --port "$port" --bind "$HOST" --dir "$dir" "${RINGKV_EXTRA[@]}")
  else
    SERVER_CMD=("$REDIS_PATH" "${redis_persist[@]}" --port "$port" --bind "$HOST" --dir "$dir")
  fi
}

cli() {  # cli NAME ARGS...: one redis-cli call to a server, bounded
  timeout 10 redis-cli -h "$HOST" -p "${PORT[$1]}" "${@:2}"
}

show_log() {
  local name=$1
  if [[ -s ${LOG[$name]:-/dev/null} ]]; then
    note "---- last lines of the $name log (${LOG[$name]}) ----"
    tail -n 20 "${LOG[$name]}" >&2
    note "----"
  fi
}

server_alive() {
  local pid=${PID[$1]:-}
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null &&
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]
}

start_server() {  # start_server NAME: fresh port and dir; waits for PONG
  local name=$1 attempt deadline reply
  for attempt in 1 2 3; do
    pick_port
    PORT[$name]=$PICKED
    DIR[$name]=$(mktemp -d "$WORK/$name.XXXX")
    LOG[$name]=${DIR[$name]}/server.log
    server_cmd "$name" "${PORT[$name]}" "${DIR[$name]}"
    # setsid: a terminal's Ctrl-C reaches only this script, whose trap then
    # stops the servers; otherwise a server could die first and the run would
    # end with a misleading "server exited". (Our async children are never
    # group leaders, so setsid does not fork: $! is the server itself.)
    "${SETSID[@]}" "${SERVER_PIN[@]}" "${SERVER_CMD[@]}" >"${LOG[$name]}" 2>&1 </dev/null &
    PID[$name]=$!
    deadline=$(( SECONDS + START_TIMEOUT ))
    while (( SECONDS < deadline )); do
      server_alive "$name" || break
      reply=$(timeout 2 redis-cli -h "$HOST" -p "${PORT[$name]}" ping 2>/dev/null || true)
      if [[ $reply == PONG ]]; then
        server_alive "$name" || break   # someone else answered on that port
        return 0
      fi
      sleep 0.1
    done
    if server_alive "$name"; then
      show_log "$name"
      stop_server "$name"
      die "$name did not answer PING on $HOST:${PORT[$name]} within ${START_TIMEOUT}s: ${SERVER_CMD[*]}"
    fi
    stop_server "$name"
    warn "$name exited at start (attempt $attempt, port ${PORT[$name]})"
    show_log "$name"
  done
  die "$name failed to start 3 times: ${SERVER_CMD[*]}"
}

check_alive() {
  local name
  for name in "$@"; do
    if ! server_alive "$name"; then
      show_log "$name"
      die "$name (pid ${PID[$name]:-?}) is no longer running"
    fi
  done
}

server_version() {  # from INFO server, else "unknown"
  local info v
  info=$(cli "$1" info server 2>/dev/null | tr -d '\r' || true)
  v=$(printf '%s\n' "$info" | awk -F: '$1=="ringkv_version"{print "ringkv_version " $2; exit}')
  [[ -n $v ]] || v=$(printf '%s\n' "$info" | awk -F: '$1=="redis_version"{print "redis_version " $2; exit}')
  printf '%s' "${v:-unknown}"
}

# ---- fill -----------------------------------------------------------------

gen_fill() {  # RESP SET commands for key:000000000000 .. key:(N-1), SIZE 'x'
  awk -v n="$1" -v size="$2" 'BEGIN {
    v = "x"; while (length(v) < size) v = v v; v = substr(v, 1, size)
    for (i = 0; i < n; i++) {
      k = sprintf("key:%012d", i)
      printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, size, v
    }
  }'
}

value_len() {  # length of GET KEY's value, -1 when missing or an error
  local out
  out=$(cli "$1" --no-raw strlen "$2" 2>/dev/null | tr -d '\r' || true)
  if [[ $out =~ ^\(integer\)\ ([0-9]+)$ ]]; then echo "${BASH_REMATCH[1]}"; return; fi
  # No STRLEN: measure GET's reply (raw output ends in one newline).
  out=$(cli "$1" --raw get "$2" 2>/dev/null | wc -c || true)
  echo $(( ${out:-0} > 0 ? out - 1 : -1 ))
}

fill() {  # fill NAME SIZE
  local name=$1 size=$2 secs rc=0 log=$WORK/fill-$1-$2.log
  secs=$(bounded_secs "$RUN_TIMEOUT")
  if [[ $FILL == pipe ]]; then
    run_bounded "$name" "$secs" "$log" "$log.err" "${BENCH_PIN[@]}" redis-cli -h "$HOST" -p "${PORT[$name]}" --pipe \
      < <(gen_fill "$KEYSPACE" "$size") || rc=$?
    cat "$log.err" >>"$log"
    if (( rc != 0 )) || ! grep -q 'errors: 0,' "$log"; then
      cat "$log" >&2
      check_alive "$name"
      die "filling $name failed (status $rc); FILL=bench avoids redis-cli --pipe"
    fi
  else
    run_bounded "$name" "$secs" "$log" "$log.err" "${BENCH_PIN[@]}" redis-benchmark -h "$HOST" -p "${PORT[$name]}" \
      -c "$CLIENTS" -t set -r "$KEYSPACE" -n $(( 3 * KEYSPACE )) -d "$size" -P 64 -q </dev/null || rc=$?
    cat "$log.err" >>"$log"
    if (( rc != 0 )); then cat "$log" >&2; check_alive "$name"; die "filling $name failed (status $rc)"; fi
  fi
  check_alive "$name"
  if [[ $FILL == pipe ]]; then
    local k len
    for k in 0 $(( KEYSPACE - 1 )); do
      k=$(printf 'key:%012d' "$k")
      len=$(value_len "$name" "$k")
      [[ $len == "$size" ]] || die "$name: after the fill, $k holds $len bytes, not $size"
    done
  fi
}

dbsize() { cli "$1" dbsize 2>/dev/null | tr -d '\r' | awk 'NR==1 && /^[0-9]+$/{print; exit}'; }

# ---- one benchmark run ----------------------------------------------------

RAW=$WORK/raw.tsv
: >"$RAW"
declare -a CMDLINES=()

bench_args() {  # bench_args PORT TEST SIZE PIPE N -> BENCH_ARGS
  BENCH_ARGS=(redis-benchmark -h "$HOST" -p "$1" -c "$CLIENTS" -n "$5" -r "$KEYSPACE"
              -d "$3" -P "$4" -t "$2" --csv)
}

RUN_NO=0
bench_once() {  # bench_once NAME TEST SIZE PIPE N ROUND
  local name=$1 test=$2 size=$3 pipe=$4 n=$5 round=$6 rc=0 secs line up
  local out=$WORK/run.out err=$WORK/run.err
  up=$(printf '%s' "$test" | tr '[:lower:]' '[:upper:]')
  bench_args "${PORT[$name]}" "$test" "$size" "$pipe" "$n"
  secs=$(bounded_secs "$RUN_TIMEOUT")
  RUN_NO=$(( RUN_NO + 1 ))
  run_bounded "$name" "$secs" "$out" "$err" "${BENCH_PIN[@]}" "${BENCH_ARGS[@]}" </dev/null || rc=$?
  if (( rc == 124 || rc == 137 )); then
    check_alive "$name"
    die "$name: '$up ${size}B P$pipe' ran past ${secs}s (RUN_TIMEOUT=$RUN_TIMEOUT or TIME_LIMIT)"
  fi
  check_alive "$name"
  # redis-benchmark 7 stops at the first error reply and prints it.
  if grep -q '^Error from server' "$out" "$err"; then
    grep -h '^Error from server' "$out" "$err" | head -n 3 >&2
    die "$name answered '$up' with errors; its numbers would be meaningless"
  fi
  (( rc == 0 )) || { cat "$out" "$err" >&2; die "redis-benchmark against $name exited with status $rc"; }
  # "SET","rps","avg","min","p50","p95","p99","max"
  line=$(awk -F, -v t="$up" '{ gsub(/"/, "") } $1 == t && NF == 8 { print; exit }' "$out" || true)
  [[ -n $line ]] || { cat "$out" "$err" >&2; die "no '$up' line in redis-benchmark's CSV output"; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$up" "$size" "$pipe" "$name" "$round" \
    "$(printf '%s' "$line" | cut -d, -f2- | tr ',' '\t')" >>"$RAW"
  printf '  [%3d/%d] %-3s %5sB P%-3s %-6s round %d/%d: %s\n' "$RUN_NO" "$TOTAL_RUNS" "$up" "$size" \
    "$pipe" "$name" "$round" "$ROUNDS" \
    "$(printf '%s' "$line" | awk -F, '{printf "%12.0f req/s  p50 %7.3f ms  p99 %7.3f ms", $2, $5, $7}')" >&2
}

# ---- the run --------------------------------------------------------------

read -r -a SIZE_LIST <<<"$SIZES"
read -r -a PIPE_LIST <<<"$PIPELINES"
read -r -a TEST_LIST <<<"$TESTS"
TOTAL_RUNS=$(( ${#SIZE_LIST[@]} * ${#PIPE_LIST[@]} * ${#TEST_LIST[@]} * ROUNDS * 2 ))
requests_for() { (( $1 == 1 )) && echo "$REQUESTS_P1" || echo "$REQUESTS"; }

STAMP=$(date +%Y-%m-%d-%H%M%S)
SUFFIX=""
[[ $QUICK == 1 ]] && SUFFIX=-quick
[[ $RINGKV_FLAVOR == redis ]] && SUFFIX=$SUFFIX-selftest
REPORT=$OUT_DIR/vs-redis-$STAMP$SUFFIX.md

note "ringkv vs redis: $TOTAL_RUNS redis-benchmark runs (sizes: $SIZES; pipelines: $PIPELINES; tests: $TESTS; $ROUNDS round(s))"
note "  ringkv: $RINGKV_PATH ($RINGKV_FLAVOR arguments, threads $THREADS)"
note "  redis:  $REDIS_PATH"
if [[ $PIN == 1 ]]; then note "  pinned: servers on CPU $SERVER_CPU, redis-benchmark on CPU $BENCH_CPU"; else note "  unpinned"; fi
[[ $QUICK == 1 ]] && note "  QUICK=1: smoke-run counts, numbers are not meaningful"
START_TIME=$SECONDS

RINGKV_VERSION="" REDIS_VERSION=""
PORT_NOTES=() FILL_NOTES=() SERVER_LINES=()
for size in "${SIZE_LIST[@]}"; do
  note "value size ${size} B: starting both servers, filling $KEYSPACE keys ($FILL)"
  start_server ringkv
  server_cmd ringkv "${PORT[ringkv]}" "${DIR[ringkv]}"; SERVER_LINES+=("$(quote_cmd "${SERVER_PIN[@]}" "${SERVER_CMD[@]}")")
  start_server redis
  server_cmd redis "${PORT[redis]}" "${DIR[redis]}"; SERVER_LINES+=("$(quote_cmd "${SERVER_PIN[@]}" "${SERVER_CMD[@]}")")
  [[ -n $RINGKV_VERSION ]] || RINGKV_VERSION=$(server_version ringkv)
  [[ -n $REDIS_VERSION ]] || REDIS_VERSION=$(server_version redis)
  PORT_NOTES+=("${size} B rows: ringkv on port ${PORT[ringkv]}, redis on port ${PORT[redis]}")
  t0=$SECONDS
  fill ringkv "$size"
  fill redis "$size"
  FILL_NOTES+=("${size} B: keys after fill: ringkv $(dbsize ringkv || true), redis $(dbsize redis || true) (fill took $(( SECONDS - t0 )) s for both)")

  for test in "${TEST_LIST[@]}"; do
    for pipe in "${PIPE_LIST[@]}"; do
      n=$(requests_for "$pipe")
      bench_args PORT "$test" "$size" "$pipe" "$n"
      CMDLINES+=("$(quote_cmd "${BENCH_PIN[@]}" "${BENCH_ARGS[@]}")")
      for (( round = 1; round <= ROUNDS; round++ )); do
        # Alternate who goes first, so drift within a round hits both alike.
        if (( round % 2 == 1 )); then order=(ringkv redis); else order=(redis ringkv); fi
        for name in "${order[@]}"; do
          bench_once "$name" "$test" "$size" "$pipe" "$n" "$round"
        done
      done
    done
  done
  stop_server ringkv
  stop_server redis
done
ELAPSED=$(( SECONDS - START_TIME ))

# ---- report ---------------------------------------------------------------

# median COLUMN TEST SIZE PIPE NAME: the median over rounds (mean of the
# middle two when ROUNDS is even).
median() {
  awk -F'\t' -v c="$1" -v t="$2" -v s="$3" -v p="$4" -v n="$5" \
    '$1==t && $2==s && $3==p && $4==n {print $c}' "$RAW" | sort -g |
    awk '{a[NR]=$1} END { if (NR == 0) { print "nan"; exit }
         if (NR % 2) printf "%.3f\n", a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'
}
# raw.tsv columns: 1 test 2 size 3 pipe 4 server 5 round 6 rps 7 avg 8 min 9 p50 10 p95 11 p99 12 max

ROWS=$WORK/rows.tsv
printf 'test\tvalue\tpipeline\tringkv req/s\tredis req/s\tratio\tringkv p50 ms\tredis p50 ms\tringkv p99 ms\tredis p99 ms\tp99 ratio\n' >"$ROWS"
for size in "${SIZE_LIST[@]}"; do
  for test in "${TEST_LIST[@]}"; do
    up=$(printf '%s' "$test" | tr '[:lower:]' '[:upper:]')
    for pipe in "${PIPE_LIST[@]}"; do
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$up" "$size" "$pipe" \
        "$(median 6 "$up" "$size" "$pipe" ringkv)" "$(median 6 "$up" "$size" "$pipe" redis)" \
        "$(median 9 "$up" "$size" "$pipe" ringkv)" "$(median 9 "$up" "$size" "$pipe" redis)" \
        "$(median 11 "$up" "$size" "$pipe" ringkv)" "$(median 11 "$up" "$size" "$pipe" redis)"
    done
  done
done | awk -F'\t' -v OFS='\t' '
  function commas(x,   s, neg) { x = sprintf("%.0f", x); neg = (x ~ /^-/); if (neg) x = substr(x, 2)
    s = ""; while (length(x) > 3) { s = "," substr(x, length(x) - 2) s; x = substr(x, 1, length(x) - 3) }
    return (neg ? "-" : "") x s }
  function ratio(a, b) { return (b > 0 ? sprintf("%.2f", a / b) : "n/a") }
  { print $1, ($2 >= 1024 && $2 % 1024 == 0 ? ($2 / 1024) " KiB" : $2 " B"), $3,
          commas($4), commas($5), ratio($4, $5),
          sprintf("%.3f", $6), sprintf("%.3f", $7), sprintf("%.3f", $8), sprintf("%.3f", $9), ratio($8, $9) }' >>"$ROWS"

cpu_model=$(cpu_model)
git_rev=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
bin_time=$(date -r "$RINGKV_PATH" '+%Y-%m-%d %H:%M:%S' 2>/dev/null || echo unknown)
HEADER=$WORK/header.md
{
  printf '# ringkv vs redis: %s%s\n\n' "$STAMP" "${SUFFIX:+ (${SUFFIX#-})}"
  [[ $QUICK == 1 ]] && printf '**QUICK=1 smoke run: the counts are tiny and the numbers mean nothing.**\n\n'
  [[ $RINGKV_FLAVOR == redis ]] && printf '**Self-test: the "ringkv" columns are a second redis-server (%s).**\n\n' "$RINGKV_PATH"
  printf -- '- Machine: nproc %s, CPU %s, kernel %s, memory %s\n' "$NPROC" "${cpu_model:-unknown}" \
    "$(uname -r)" "$(awk '/^MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  printf -- '- ringkv: %s (%s; repo %s; binary built %s); --threads %s%s\n' "$RINGKV_PATH" "$RINGKV_VERSION" \
    "$git_rev" "$bin_time" "$THREADS" "${RINGKV_ARGS:+; RINGKV_ARGS: $RINGKV_ARGS}"
  printf -- '- redis: %s (%s)\n' "$("$REDIS_PATH" --version 2>/dev/null | head -n 1)" "$REDIS_VERSION"
  if [[ $DURABILITY == memory ]]; then
    printf -- '- Durability: none on either side (ringkv --engine memory; redis --save "" --appendonly no)\n'
  else
    printf -- '- Durability: ringkv --engine lsm --fsync %s; redis --appendonly yes --appendfsync %s\n' "$DURABILITY" "$DURABILITY"
  fi
  printf -- '- load: %s\n' "$(redis-benchmark --version 2>/dev/null | head -n 1)"
  if [[ $PIN == 1 ]]; then
    printf -- '- Pinning: both servers on CPU %s, redis-benchmark (and the fill) on CPU %s (taskset)\n' "$SERVER_CPU" "$BENCH_CPU"
  else
    printf -- '- Pinning: none (PIN=0)\n'
  fi
  printf -- '- Rows: %s clients, %s keys (-r), requests %s at pipeline 1 and %s otherwise; %s round(s) per row, median shown; ringkv and redis run in turns, who goes first alternates per round\n' \
    "$CLIENTS" "$KEYSPACE" "$REQUESTS_P1" "$REQUESTS" "$ROUNDS"
  if [[ $FILL == pipe ]]; then
    printf -- '- Fill before each value size, on fresh servers: every key written once (redis-cli --pipe), so every GET hits:\n'
  else
    printf -- '- Fill before each value size, on fresh servers: redis-benchmark -t set -n %s (random keys), so about 95%% of GETs hit:\n' $(( 3 * KEYSPACE ))
  fi
  for l in "${FILL_NOTES[@]}"; do printf '  - %s\n' "$l"; done
  printf -- '- Wall time: %s s\n' "$ELAPSED"
  printf '\nServers (started afresh for each value size):\n\n```\n'
  printf '%s\n' "${SERVER_LINES[@]}"
  printf '```\n\nredis-benchmark command lines (PORT is the server'"'"'s port):\n\n```\n'
  printf '%s\n' "${CMDLINES[@]}"
  printf '```\n\n'
  for l in "${PORT_NOTES[@]}"; do printf -- '- %s\n' "$l"; done
  printf '\nratio = ringkv req/s / redis req/s (above 1: ringkv faster). p99 ratio = ringkv p99 / redis p99 (below 1: ringkv lower). Latencies in ms, medians over rounds.\n\n'
} >"$HEADER"
TABLE=$WORK/table.md
md_table lllrrrrrrrr <"$ROWS" >"$TABLE"
RAWMD=$WORK/raw.md
{
  printf '\n## All runs\n\n'
  { printf 'test\tvalue B\tpipeline\tserver\tround\treq/s\tavg ms\tmin ms\tp50 ms\tp95 ms\tp99 ms\tmax ms\n'; cat "$RAW"; } |
    md_table llllrrrrrrrr
} >"$RAWMD"

mkdir -p "$OUT_DIR"
cat "$HEADER" "$TABLE" "$RAWMD" >"$REPORT"
printf '\n'
cat "$HEADER" "$TABLE"
printf '\nReport (with every run): %s\n' "${REPORT#"$REPO_ROOT"/}"
