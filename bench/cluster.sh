#!/usr/bin/env bash
# bench/cluster.sh: a 3-node ringkv cluster (N=3, R=2, W=2, the defaults)
# next to one ringkv node outside any cluster, same redis-benchmark load on
# both, on loopback. See bench/README.md ("cluster.sh") for what it measures,
# the knobs and how to read the table.
#
#   bench/cluster.sh                        full run (defaults below)
#   REQUESTS=20000 REPEATS=1 bench/cluster.sh   smoke run
#   PROFILE=1 bench/cluster.sh              also perf-profiles one cluster node
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
usage: bench/cluster.sh [--help]

A 3-node ringkv cluster (127.0.0.11-13) against one ringkv node (127.0.0.10),
the same redis-benchmark load on each: LOADERS redis-benchmark processes at
once, CLIENTS and REQUESTS split between them (one per cluster node; all on
the single node). Throughput is summed over the processes.

Environment (defaults in brackets):
  REPEATS       runs per row and setup; the median is reported     [3]
  REQUESTS      requests per row, in total over the loaders (-n)   [100000]
  CLIENTS       connections per row, in total (-c)                 [48]
  KEYSPACE      redis-benchmark -r, and keys filled before rows    [100000]
  SIZES         value sizes in bytes (-d)                          ["64"]
  PIPELINES     pipeline depths (-P)                               ["1"]
  TESTS         redis-benchmark tests (-t), in this order          ["set get"]
  THREADS       ringkv --threads, every node                       [1]
  FSYNC         ringkv --fsync for every node (empty: the server's
                default, everysec; the engine is the default, lsm) [empty]
  RINGKV_SERVER ringkv server binary              [build/ringkv-server]
  RINGKV_ARGS   extra ringkv arguments for every node, whitespace-split
  FILL          1: write every key once before the rows, 0: don't  [1]
  PIN           1: servers on SERVER_CPUS, loaders on BENCH_CPUS    [0]
  SERVER_CPUS / BENCH_CPUS  taskset CPU lists for PIN=1 [first / second CPU]
  PROFILE       1: perf record -a -g during one extra cluster SET run
                (not counted), and print n1's top symbols           [0]
  PROFILE_CALLGRAPH  perf --call-graph mode (dwarf: deep stacks without
                frame pointers, larger files; fp: cheap)           [dwarf]
  PROFILE_FREQ  perf sampling frequency, Hz                        [499]
  PROFILE_REQUESTS  requests of the profiled run     [REQUESTS, at least 100000]
  TIME_LIMIT    seconds before the whole run gives up              [1800]
  RUN_TIMEOUT   seconds one run (or one fill) may take             [300]
  START_TIMEOUT seconds for a node to answer PING, and for the
                cluster to form its ring of 3                      [30]
  OUT_DIR       where the markdown report goes         [bench/results]
  KEEP_TMP      1: keep the temp dir (data dirs, logs, raw output) [0]
EOF
}

for arg in "$@"; do
  case $arg in
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $arg" ;;
  esac
done

REPEATS=${REPEATS:-3}
REQUESTS=${REQUESTS:-100000}
CLIENTS=${CLIENTS:-48}
KEYSPACE=${KEYSPACE:-100000}
SIZES=${SIZES:-64}
PIPELINES=${PIPELINES:-1}
TESTS=${TESTS:-"set get"}
THREADS=${THREADS:-1}
FSYNC=${FSYNC:-}
RINGKV_SERVER=${RINGKV_SERVER:-build/ringkv-server}
RINGKV_ARGS=${RINGKV_ARGS:-}
FILL=${FILL:-1}
PIN=${PIN:-0}
PROFILE=${PROFILE:-0}
PROFILE_CALLGRAPH=${PROFILE_CALLGRAPH:-dwarf}
PROFILE_FREQ=${PROFILE_FREQ:-499}
PROFILE_REQUESTS=${PROFILE_REQUESTS:-$(( REQUESTS > 100000 ? REQUESTS : 100000 ))}
TIME_LIMIT=${TIME_LIMIT:-1800}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
START_TIMEOUT=${START_TIMEOUT:-30}
OUT_DIR=${OUT_DIR:-$REPO_ROOT/bench/results}
KEEP_TMP=${KEEP_TMP:-0}

LOADERS=3                                   # one redis-benchmark per cluster node
NODES=(n1 n2 n3)
declare -A HOST=([n1]=127.0.0.11 [n2]=127.0.0.12 [n3]=127.0.0.13 [s1]=127.0.0.10)
CLUSTER_NAME=bench

# ---- checks ---------------------------------------------------------------

is_uint() { [[ $1 =~ ^[0-9]+$ ]] && (( 10#$1 > 0 )); }
for v in REPEATS REQUESTS CLIENTS KEYSPACE THREADS TIME_LIMIT RUN_TIMEOUT START_TIMEOUT; do
  is_uint "${!v}" || die "$v must be a positive integer (got '${!v}')"
done
for v in $SIZES $PIPELINES; do is_uint "$v" || die "SIZES/PIPELINES must be positive integers (got '$v')"; done
for t in $TESTS; do
  [[ $t == set || $t == get ]] || die "TESTS may hold only 'set' and 'get' (got '$t')"
done
(( CLIENTS >= LOADERS )) || die "CLIENTS must be at least $LOADERS (one per loader)"
(( REQUESTS >= LOADERS )) || die "REQUESTS must be at least $LOADERS"
(( KEYSPACE <= 999999999999 )) || die "KEYSPACE must fit redis-benchmark's 12-digit keys"
[[ $FILL == 0 || $FILL == 1 ]] || die "FILL must be 0 or 1"
[[ $PIN == 0 || $PIN == 1 ]] || die "PIN must be 0 or 1"
[[ $PROFILE == 0 || $PROFILE == 1 ]] || die "PROFILE must be 0 or 1"
is_uint "$PROFILE_FREQ" || die "PROFILE_FREQ must be a positive integer"
is_uint "$PROFILE_REQUESTS" || die "PROFILE_REQUESTS must be a positive integer"
[[ $PROFILE_CALLGRAPH =~ ^(fp|dwarf|lbr)(,[0-9]+)?$ ]] || die "PROFILE_CALLGRAPH must be fp, dwarf or lbr (optionally ,SIZE)"
[[ -z $FSYNC || $FSYNC == always || $FSYNC == everysec || $FSYNC == no ]] ||
  die "FSYNC must be empty, always, everysec or no"

for tool in redis-benchmark redis-cli timeout awk sort setsid; do
  command -v "$tool" >/dev/null || die "'$tool' not found on PATH (Debian: apt-get install redis-tools coreutils util-linux)"
done

if [[ $RINGKV_SERVER == */* ]]; then
  [[ $RINGKV_SERVER == /* ]] || RINGKV_SERVER=$REPO_ROOT/$RINGKV_SERVER
else
  RINGKV_SERVER=$(command -v "$RINGKV_SERVER" || true)
fi
[[ -n $RINGKV_SERVER && -f $RINGKV_SERVER && -x $RINGKV_SERVER ]] ||
  die "ringkv binary not found or not executable: '${RINGKV_SERVER}' (run 'make build', or set RINGKV_SERVER)"
read -r -a RINGKV_EXTRA <<<"$RINGKV_ARGS"

NPROC=$(nproc)
SERVER_PIN=() BENCH_PIN=()
if [[ $PIN == 1 ]]; then
  command -v taskset >/dev/null || die "PIN=1 needs taskset (util-linux)"
  read -r -a cpus <<<"$(taskset -pc $$ 2>/dev/null | sed 's/.*: *//' | tr ',' '\n' |
    awk -F- 'NF==2{for(i=$1;i<=$2;i++)printf "%d ",i; next} NF==1&&$1!=""{printf "%d ",$1}')"
  (( ${#cpus[@]} >= 2 )) || die "PIN=1 needs 2 CPUs (or set SERVER_CPUS and BENCH_CPUS)"
  SERVER_CPUS=${SERVER_CPUS:-${cpus[0]}}
  BENCH_CPUS=${BENCH_CPUS:-${cpus[1]}}
  taskset -c "$SERVER_CPUS" true 2>/dev/null || die "cannot pin to SERVER_CPUS=$SERVER_CPUS"
  taskset -c "$BENCH_CPUS" true 2>/dev/null || die "cannot pin to BENCH_CPUS=$BENCH_CPUS"
  SERVER_PIN=(taskset -c "$SERVER_CPUS")
  BENCH_PIN=(taskset -c "$BENCH_CPUS")
fi

# ---- state and cleanup ----------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ringkv-bench-cluster.XXXXXX")
declare -A PID=() PORT=() CPORT=() DIR=() LOG=()
CHILDREN=()          # loaders and fills while they run: stopped on exit
PERF_PID=""
USED_PORTS=" "

proc_alive() {  # running (a zombie is not)
  kill -0 "$1" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

stop_pid() {  # TERM, up to 5 s, then KILL; only our own children are passed here
  local pid=$1 i
  [[ -n $pid ]] || return 0
  if proc_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < 50; i++ )); do
      proc_alive "$pid" || break
      sleep 0.1
    done
    proc_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

stop_node() {
  local name=$1
  if [[ -n ${PID[$name]:-} ]]; then
    stop_pid "${PID[$name]}"
    PID[$name]=""
  fi
}

stop_children() {
  local p
  for p in "${CHILDREN[@]}"; do stop_pid "$p"; done
  CHILDREN=()
}

cleanup() {
  local rc=$? name
  trap - EXIT INT TERM
  stop_children
  stop_pid "$PERF_PID"
  for name in "${!PID[@]}"; do stop_node "$name"; done
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

# The profile records system-wide (-a) and filters n1's samples afterwards:
# attaching to one process (-p) recorded no samples at all in the VM this
# was written on, while -a and a launched workload did.
PERF_OK=0 PERF_NOTE=""
if [[ $PROFILE == 1 ]]; then
  if ! command -v perf >/dev/null; then
    PERF_NOTE="perf is not installed (Debian: linux-perf); PROFILE=1 skipped"
    warn "$PERF_NOTE"
  elif ! timeout 30 perf record -a -q -o "$WORK/perf-probe.data" -- sleep 0.1 >"$WORK/perf-probe.log" 2>&1; then
    PERF_NOTE="perf is installed but cannot record system-wide here (perf_event_paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo ?); it needs root, CAP_PERFMON or paranoid <= 0): $(head -n 3 "$WORK/perf-probe.log" | tr '\n' ' ')"
    warn "$PERF_NOTE; PROFILE=1 skipped"
  else
    PERF_OK=1
  fi
  rm -f -- "$WORK/perf-probe.data"
fi

# ---- time bound -----------------------------------------------------------

DEADLINE=$(( SECONDS + TIME_LIMIT ))
bound() {  # bound SECS -> BOUND = min(SECS, time left); dies when no time is left
  local left=$(( DEADLINE - SECONDS ))
  (( left > 0 )) || die "TIME_LIMIT=${TIME_LIMIT}s reached; giving up (raise TIME_LIMIT or lower the counts)"
  BOUND=$(( $1 < left ? $1 : left ))
}

quote_cmd() {
  local out="" a
  for a in "$@"; do out+="${out:+ }$(printf '%q' "$a")"; done
  printf '%s' "$out"
}

# ---- nodes ----------------------------------------------------------------

port_free() { ! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
pick_port() {  # pick_port HOST -> PICKED: free on HOST, not used before by us
  local p i
  for (( i = 0; i < 200; i++ )); do
    p=$(( 20000 + RANDOM % 12000 ))
    [[ $USED_PORTS == *" $p "* ]] && continue
    if port_free "$1" "$p"; then USED_PORTS+="$p "; PICKED=$p; return 0; fi
  done
  die "no free port found on $1"
}

node_cmd() {  # node_cmd NAME -> NODE_CMD array
  local name=$1
  NODE_CMD=("$RINGKV_SERVER" --port "${PORT[$name]}" --bind "${HOST[$name]}" --dir "${DIR[$name]}"
            --threads "$THREADS" --http-port 0)
  if [[ -n $FSYNC ]]; then NODE_CMD+=(--fsync "$FSYNC"); fi
  if [[ $name != s1 ]]; then
    NODE_CMD+=(--cluster-name "$CLUSTER_NAME" --node-name "$name" --cluster-port "${CPORT[$name]}")
    if [[ $name != n1 ]]; then NODE_CMD+=(--join "${HOST[n1]}:${CPORT[n1]}"); fi
  fi
  NODE_CMD+=("${RINGKV_EXTRA[@]}")
}

cli() {  # cli NAME ARGS...: one bounded redis-cli call to a node
  timeout 10 redis-cli -h "${HOST[$1]}" -p "${PORT[$1]}" "${@:2}"
}

show_log() {
  local name=$1
  if [[ -s ${LOG[$name]:-/dev/null} ]]; then
    note "---- last lines of the $name log (${LOG[$name]}) ----"
    tail -n 20 "${LOG[$name]}" >&2
    note "----"
  fi
}

node_alive() { [[ -n ${PID[$1]:-} ]] && proc_alive "${PID[$1]}"; }

check_alive() {
  local name
  for name in "$@"; do
    if ! node_alive "$name"; then
      show_log "$name"
      die "$name (pid ${PID[$name]:-?}) is no longer running"
    fi
  done
}

declare -a SERVER_LINES=()
start_node() {  # start_node NAME: fresh ports and dir; waits for PONG
  local name=$1 attempt deadline reply
  for attempt in 1 2 3; do
    pick_port "${HOST[$name]}"; PORT[$name]=$PICKED
    if [[ $name != s1 ]]; then pick_port "${HOST[$name]}"; CPORT[$name]=$PICKED; fi
    DIR[$name]=$(mktemp -d "$WORK/$name.XXXX")
    LOG[$name]=$WORK/${DIR[$name]##*/}.log
    node_cmd "$name"
    # setsid: a terminal's Ctrl-C reaches only this script, whose trap then
    # stops the nodes. (Our async children are never group leaders, so
    # setsid does not fork: $! is the server itself.)
    setsid "${SERVER_PIN[@]}" "${NODE_CMD[@]}" >"${LOG[$name]}" 2>&1 </dev/null &
    PID[$name]=$!
    deadline=$(( SECONDS + START_TIMEOUT ))
    while (( SECONDS < deadline )); do
      node_alive "$name" || break
      reply=$(cli "$name" ping 2>/dev/null || true)
      if [[ $reply == PONG ]]; then
        node_alive "$name" || break
        SERVER_LINES+=("$(quote_cmd "${SERVER_PIN[@]}" "${NODE_CMD[@]}")")
        return 0
      fi
      sleep 0.1
    done
    if node_alive "$name"; then
      show_log "$name"; stop_node "$name"
      die "$name did not answer PING on ${HOST[$name]}:${PORT[$name]} within ${START_TIMEOUT}s"
    fi
    stop_node "$name"
    warn "$name exited at start (attempt $attempt, port ${PORT[$name]})"
    show_log "$name"
  done
  die "$name failed to start 3 times: ${NODE_CMD[*]}"
}

info_field() {  # info_field NAME SECTION FIELD
  cli "$1" info "$2" 2>/dev/null | tr -d '\r' | awk -F: -v f="$3" '$1==f{print $2; exit}'
}

# cluster_ready: every node lists exactly n1..n3, all up and all owning
# partitions that add up to the ring; every node holds the same ring version.
cluster_ready() {
  local name out versions="" v
  for name in "${NODES[@]}"; do
    check_alive "$name"
    # CLUSTER STATUS, flattened by redis-cli: 9 lines per member (name,
    # address, zone, state, incarnation, partitions or -1 when not in the
    # ring, then the hints held for it: count, bytes, age).
    out=$(cli "$name" cluster status 2>/dev/null | tr -d '\r') || return 1
    printf '%s\n' "$out" | awk -v want=3 -v q="$(info_field "$name" cluster ring_partitions)" '
      { f[(NR - 1) % 9 + 1] = $0 }
      NR % 9 == 0 { n++; if (f[4] != "up" || f[6] + 0 < 1) bad = 1; sum += f[6]; names[f[1]] = 1 }
      END { if (NR != 9 * want || n != want || bad || q == "" || sum != q) exit 1
            if (!("n1" in names) || !("n2" in names) || !("n3" in names)) exit 1 }' || return 1
    v=$(info_field "$name" cluster ring_version)
    [[ -n $v ]] || return 1
    versions+="$v "
  done
  [[ $(printf '%s\n' $versions | sort -u | wc -l) == 1 ]]
}

start_cluster() {
  local name t0=$SECONDS deadline
  for name in "${NODES[@]}"; do start_node "$name"; done
  deadline=$(( SECONDS + START_TIMEOUT ))
  until cluster_ready; do
    if (( SECONDS >= deadline )); then
      for name in "${NODES[@]}"; do note "$name: CLUSTER STATUS: $(cli "$name" cluster status 2>&1 | tr '\r\n' '  ')"; show_log "$name"; done
      die "the cluster did not form a ring of 3 members within ${START_TIMEOUT}s"
    fi
    sleep 0.2
  done
  note "  cluster formed in $(( SECONDS - t0 )) s (ring version $(info_field n1 cluster ring_version), 3 members up)"
}

# ---- loaders --------------------------------------------------------------

# run_children SECS NODES... -- each child in CHILDREN must end within SECS
# (they run under timeout); dies if one of NODES exits meanwhile. Sets
# CHILD_RC[i] for each child (124/137: timed out).
declare -a CHILD_RC=()
run_children_wait() {
  local -a pending=("${CHILDREN[@]}") nodepids=() left
  local name done_pid rc i
  for name in "$@"; do nodepids+=("${PID[$name]}"); done
  CHILD_RC=()
  while (( ${#pending[@]} > 0 )); do
    rc=0; done_pid=""
    wait -n -p done_pid "${pending[@]}" "${nodepids[@]}" || rc=$?
    [[ -n $done_pid ]] || die "wait failed (status $rc)"
    for name in "$@"; do
      if [[ $done_pid == "${PID[$name]}" ]]; then
        PID[$name]=""   # reaped: forget its pid before anything could reuse it
        show_log "$name"
        die "$name exited (status $rc) during a run"
      fi
    done
    for i in "${!CHILDREN[@]}"; do
      if [[ ${CHILDREN[$i]} == "$done_pid" ]]; then CHILD_RC[$i]=$rc; fi
    done
    left=()
    for i in "${pending[@]}"; do
      if [[ $i != "$done_pid" ]]; then left+=("$i"); fi
    done
    pending=("${left[@]}")
  done
  CHILDREN=()
}

targets_of() {  # targets_of SETUP -> TARGETS: the node of loader 1..LOADERS
  if [[ $1 == cluster ]]; then TARGETS=("${NODES[@]}"); else TARGETS=(s1 s1 s1); fi
}
nodes_of() { if [[ $1 == cluster ]]; then NODES_OF=("${NODES[@]}"); else NODES_OF=(s1); fi; }
share() { echo $(( $1 / LOADERS + ($2 < $1 % LOADERS ? 1 : 0) )); }  # share TOTAL I

gen_fill() {  # RESP SETs of key:LO .. key:HI-1, SIZE 'x'
  awk -v lo="$1" -v hi="$2" -v size="$3" 'BEGIN {
    v = "x"; while (length(v) < size) v = v v; v = substr(v, 1, size)
    for (i = lo; i < hi; i++) {
      k = sprintf("key:%012d", i)
      printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, size, v
    }
  }'
}

value_len() {  # bytes of GET KEY's value (raw output ends in one newline); -1 on nil/error
  local out
  out=$(cli "$1" --no-raw get "$2" 2>/dev/null | tr -d '\r' || true)
  [[ $out == '"'* ]] || { echo -1; return; }
  out=$(cli "$1" --raw get "$2" 2>/dev/null | wc -c || true)
  echo $(( ${out:-0} > 0 ? out - 1 : -1 ))
}

FILL_NOTES=()
fill() {  # fill SETUP SIZE: every key once, split over the loaders' targets
  local setup=$1 size=$2 i lo hi secs t0=$SECONDS k name len
  targets_of "$setup"; nodes_of "$setup"
  bound "$RUN_TIMEOUT"; secs=$BOUND
  for i in "${!TARGETS[@]}"; do
    lo=$(( KEYSPACE * i / LOADERS )); hi=$(( KEYSPACE * (i + 1) / LOADERS ))
    timeout -k 5 "$secs" "${BENCH_PIN[@]}" redis-cli -h "${HOST[${TARGETS[$i]}]}" -p "${PORT[${TARGETS[$i]}]}" --pipe \
      < <(gen_fill "$lo" "$hi" "$size") >"$WORK/fill-$setup-$size-$i.out" 2>&1 &
    CHILDREN+=($!)
  done
  run_children_wait "${NODES_OF[@]}"
  for i in "${!TARGETS[@]}"; do
    if (( ${CHILD_RC[$i]:-1} != 0 )) || ! grep -q 'errors: 0,' "$WORK/fill-$setup-$size-$i.out"; then
      note "---- fill output (loader $((i + 1)), ${TARGETS[$i]}) ----"
      head -n 20 "$WORK/fill-$setup-$size-$i.out" >&2
      die "filling the $setup setup failed (loader $((i + 1)), status ${CHILD_RC[$i]:-?})"
    fi
  done
  for name in "${NODES_OF[@]}"; do
    for k in 0 $(( KEYSPACE - 1 )); do
      k=$(printf 'key:%012d' "$k")
      len=$(value_len "$name" "$k")
      [[ $len == "$size" ]] || die "$setup: after the fill, GET $k through $name gives $len bytes, not $size"
    done
  done
  FILL_NOTES+=("${size} B, $setup: $KEYSPACE keys in $(( SECONDS - t0 )) s; DBSIZE per node: $(
    for name in "${NODES_OF[@]}"; do printf '%s %s  ' "$name" "$(cli "$name" dbsize 2>/dev/null | tr -d '\r')"; done)")
}

RAW=$WORK/raw.tsv            # one line per run (aggregate over the loaders)
RAWP=$WORK/raw-loaders.tsv   # one line per loader per run
ERRS=$WORK/errors.txt
: >"$RAW"; : >"$RAWP"; : >"$ERRS"
declare -a CMDLINES=()
RUN_NO=0 SEQ=0 ERROR_RUNS=0
RUN_REQUESTS=$REQUESTS   # PROFILE_REQUESTS during the profiled run

loader_args() {  # loader_args HOST PORT TEST SIZE PIPE I -> LOADER_ARGS
  LOADER_ARGS=(redis-benchmark -h "$1" -p "$2" -c "$(share "$CLIENTS" "$6")" -n "$(share "$RUN_REQUESTS" "$6")"
               -r "$KEYSPACE" -d "$4" -P "$5" -t "$3" --csv)
}

# run_once SETUP TEST SIZE PIPE ROUND [TAG]: LOADERS redis-benchmarks at once;
# TAG (profile) marks a run that is not counted.
run_once() {
  local setup=$1 test=$2 size=$3 pipe=$4 round=$5 tag=${6:-} up i secs t0 t1 line
  local out errtxt label bad=0 rps_sum=0 p50s="" p99s="" avgs=""
  up=$(printf '%s' "$test" | tr '[:lower:]' '[:upper:]')
  targets_of "$setup"; nodes_of "$setup"
  check_alive "${NODES_OF[@]}"
  bound "$RUN_TIMEOUT"; secs=$BOUND
  SEQ=$(( SEQ + 1 ))
  if [[ -z $tag ]]; then RUN_NO=$(( RUN_NO + 1 )); label=$(printf '[%3d/%d]' "$RUN_NO" "$TOTAL_RUNS"); else label="[$tag]"; fi
  t0=$(date +%s%N)
  for i in "${!TARGETS[@]}"; do
    loader_args "${HOST[${TARGETS[$i]}]}" "${PORT[${TARGETS[$i]}]}" "$test" "$size" "$pipe" "$i"
    out=$WORK/run-$SEQ-$i
    timeout -k 5 "$secs" "${BENCH_PIN[@]}" "${LOADER_ARGS[@]}" </dev/null >"$out.out" 2>"$out.err" &
    CHILDREN+=($!)
  done
  run_children_wait "${NODES_OF[@]}"
  t1=$(date +%s%N)
  for i in "${!TARGETS[@]}"; do
    out=$WORK/run-$SEQ-$i
    # redis-benchmark 7 stops at the first error reply and prints it.
    errtxt=$(grep -h -m 3 -i 'error' "$out.out" "$out.err" 2>/dev/null || true)
    if [[ -n $errtxt ]]; then
      bad=1
      printf '%s %sB P%s %s round %s, loader %d (%s): %s\n' "$up" "$size" "$pipe" "$setup" "$round" \
        $(( i + 1 )) "${TARGETS[$i]}" "$(printf '%s' "$errtxt" | tr '\n' ' ')" >>"$ERRS"
      continue
    fi
    case ${CHILD_RC[$i]:-1} in
      0) ;;
      124|137) die "$setup '$up ${size}B P$pipe' loader $((i + 1)) ran past ${secs}s (RUN_TIMEOUT=$RUN_TIMEOUT or TIME_LIMIT)" ;;
      *) cat "$out.out" "$out.err" >&2; die "redis-benchmark (loader $((i + 1)), $setup) exited with status ${CHILD_RC[$i]}" ;;
    esac
    # "SET","rps","avg","min","p50","p95","p99","max"
    line=$(awk -F, -v t="$up" '{ gsub(/"/, "") } $1 == t && NF == 8 { print; exit }' "$out.out" || true)
    [[ -n $line ]] || { cat "$out.out" "$out.err" >&2; die "no '$up' line in redis-benchmark's CSV output"; }
    printf '%s\t%s\t%s\t%s\t%s%s\t%d\t%s\t%s\n' "$up" "$size" "$pipe" "$setup" "$round" "${tag:+-$tag}" \
      $(( i + 1 )) "${TARGETS[$i]}" "$(printf '%s' "$line" | cut -d, -f2- | tr ',' '\t')" >>"$RAWP"
    rps_sum=$(awk -v a="$rps_sum" -v b="$(cut -d, -f2 <<<"$line")" 'BEGIN{printf "%.2f", a + b}')
    avgs+="$(cut -d, -f3 <<<"$line") "; p50s+="$(cut -d, -f5 <<<"$line") "; p99s+="$(cut -d, -f7 <<<"$line") "
  done
  if (( bad )); then
    ERROR_RUNS=$(( ERROR_RUNS + 1 ))
    printf '  %s %-3s %5sB P%-3s %-7s round %d/%d: ERROR REPLIES (see below); run not counted\n' \
      "$label" "$up" "$size" "$pipe" "$setup" "$round" "$REPEATS" >&2
    tail -n "$LOADERS" "$ERRS" | sed 's/^/      /' >&2
    return 0
  fi
  # Aggregate: req/s summed over the loaders; wall req/s = all requests /
  # (launch of the first to end of the last); p50 = mean of the loaders'
  # p50s; p99 = the worst loader's p99 (an upper bound on the merged p99).
  line=$(awk -v rps="$rps_sum" -v n="$RUN_REQUESTS" -v ns=$(( t1 - t0 )) -v avg="$avgs" -v p50="$p50s" -v p99="$p99s" 'BEGIN {
      k = split(avg, a, " "); s = 0; for (i = 1; i <= k; i++) s += a[i]; avgm = s / k
      k = split(p50, a, " "); s = 0; for (i = 1; i <= k; i++) s += a[i]; p50m = s / k
      k = split(p99, a, " "); m = 0; for (i = 1; i <= k; i++) if (a[i] + 0 > m) m = a[i] + 0
      printf "%.2f\t%.2f\t%.3f\t%.3f\t%.3f", rps, n / (ns / 1e9), avgm, p50m, m }')
  printf '%s\t%s\t%s\t%s\t%s%s\t%s\n' "$up" "$size" "$pipe" "$setup" "$round" "${tag:+-$tag}" "$line" >>"$RAW"
  printf '  %s %-3s %5sB P%-3s %-7s round %d/%d: %s%s\n' "$label" "$up" "$size" \
    "$pipe" "$setup" "$round" "$REPEATS" \
    "$(awk -F'\t' '{printf "%10.0f req/s  p50 %6.3f ms  p99 %6.3f ms", $1, $4, $5}' <<<"$line")" "${tag:+  ($tag, not counted)}" >&2
}

# ---- profile --------------------------------------------------------------

PROFILE_TXT=$WORK/profile.txt PROFILE_SUMMARY=$WORK/profile-summary.txt
perf_report() {  # perf_report ARGS...: bounded, headers and blank lines dropped
  timeout 300 perf report -i "$WORK/perf.data" --stdio "$@" 2>/dev/null |
    grep -v '^#' | grep -v '^[[:space:]]*$' | sed -E 's/([[:space:]]+-)+[[:space:]]*$//; s/[[:space:]]+$//' |
    cut -c1-200 || true
}
profile_run() {  # profile_run SIZE PIPE: perf record -a during one extra cluster SET run
  local size=$1 pipe=$2 i data=$WORK/perf.data n1pid=${PID[n1]}
  note "profile: perf record -a --call-graph $PROFILE_CALLGRAPH -F $PROFILE_FREQ during one extra cluster SET ${size}B P$pipe run; n1 is pid $n1pid"
  # No workload and no timeout wrapper: SIGINT is what makes perf stop and
  # write. Bounded below: SIGINT, 30 s, then TERM and KILL (stop_pid).
  perf record -a -B -F "$PROFILE_FREQ" --call-graph "$PROFILE_CALLGRAPH" -o "$data" >"$WORK/perf-record.log" 2>&1 &
  PERF_PID=$!
  for (( i = 0; i < 30; i++ )); do [[ -s $data ]] && break; sleep 0.1; done
  sleep 0.5
  RUN_REQUESTS=$PROFILE_REQUESTS
  run_once cluster set "$size" "$pipe" 1 profile
  RUN_REQUESTS=$REQUESTS
  kill -INT "$PERF_PID" 2>/dev/null || true
  for (( i = 0; i < 300; i++ )); do proc_alive "$PERF_PID" || break; sleep 0.1; done
  stop_pid "$PERF_PID"; PERF_PID=""
  if ! timeout 60 perf report -i "$data" --stdio --pid "$n1pid" --sort comm -g none >/dev/null 2>&1; then
    PERF_NOTE="perf record gave no usable samples: $(tail -n 3 "$WORK/perf-record.log" | tr '\n' ' ')"
    warn "$PERF_NOTE"
    return 0
  fi
  note "profile: reading the samples (perf report)"
  perf_report --pid "$n1pid" --percentage relative --no-children --sort comm,dso,symbol -g none --percent-limit 0.5 |
    head -n 40 >"$PROFILE_SUMMARY"
  {
    printf 'Recorded: `perf record -a -F %s --call-graph %s` while the run lasted. n1 was pid %s.\n\n' \
      "$PROFILE_FREQ" "$PROFILE_CALLGRAPH" "$n1pid"
    printf '### Whole machine, by process (perf report --sort comm,pid)\n\n```\n'
    perf_report --no-children --sort comm,pid -g none --percent-limit 1 | head -n 25
    printf '```\n\n### n1, self time by thread and symbol (--pid %s --percentage relative --no-children --sort comm,dso,symbol)\n\n```\n' "$n1pid"
    cat "$PROFILE_SUMMARY"
    # Not --percentage relative here: with --children it prints shares far
    # past 100%.
    printf '```\n\n### n1, with children (--pid %s --children --sort symbol)\n\n```\n' "$n1pid"
    perf_report --pid "$n1pid" --children --sort symbol -g none --percent-limit 1 | head -n 40
    printf '```\n\n### n1, call graphs of the top entries (--no-children, caller graph)\n\n```\n'
    perf_report --pid "$n1pid" --percentage relative --no-children --sort symbol -g caller,2,callee,function,percent --percent-limit 3 |
      head -n 150
    printf '```\n'
  } >"$PROFILE_TXT"
}

# ---- the run --------------------------------------------------------------

read -r -a SIZE_LIST <<<"$SIZES"
read -r -a PIPE_LIST <<<"$PIPELINES"
read -r -a TEST_LIST <<<"$TESTS"
TOTAL_RUNS=$(( ${#SIZE_LIST[@]} * ${#PIPE_LIST[@]} * ${#TEST_LIST[@]} * REPEATS * 2 ))

STAMP=$(date +%Y-%m-%d-%H%M%S)
DATE_HUMAN=$(date '+%Y-%m-%d %H:%M:%S %Z')
REPORT=$OUT_DIR/cluster-$STAMP.md
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

note "3-node cluster vs single node: $TOTAL_RUNS runs of $LOADERS redis-benchmarks each (sizes: $SIZES; pipelines: $PIPELINES; tests: $TESTS; $REPEATS repeat(s))"
note "  ringkv: $RINGKV_SERVER (--threads $THREADS${FSYNC:+, --fsync $FSYNC})"
START_TIME=$SECONDS
ENGINE_SEEN="" FSYNC_SEEN="" VERSION_SEEN="" QUORUM_SEEN=""
INFO_NOTES=()

for size in "${SIZE_LIST[@]}"; do
  note "value size $size B: starting 3 cluster nodes and 1 single node"
  start_cluster
  start_node s1
  if [[ -z $ENGINE_SEEN ]]; then
    for name in n1 s1; do
      ENGINE_SEEN+="$name $(cli "$name" config get engine | tr -d '\r' | sed -n 2p) "
      FSYNC_SEEN+="$name $(cli "$name" config get fsync | tr -d '\r' | sed -n 2p) "
    done
    VERSION_SEEN=$(info_field s1 server ringkv_version)
    QUORUM_SEEN=$(for k in cluster-n cluster-r cluster-w; do printf '%s=%s ' "${k#cluster-}" "$(cli n1 config get "$k" | tr -d '\r' | sed -n 2p)"; done)
  fi
  if [[ $FILL == 1 ]]; then
    note "  filling $KEYSPACE keys of $size B into each setup"
    fill cluster "$size"
    fill single "$size"
  fi
  for test in "${TEST_LIST[@]}"; do
    for pipe in "${PIPE_LIST[@]}"; do
      for (( i = 0; i < LOADERS; i++ )); do
        loader_args HOST PORT "$test" "$size" "$pipe" "$i"
        CMDLINES+=("loader $((i + 1)): $(quote_cmd "${BENCH_PIN[@]}" "${LOADER_ARGS[@]}")")
      done
      for (( round = 1; round <= REPEATS; round++ )); do
        # Alternate who goes first, so drift within a round hits both alike.
        if (( round % 2 == 1 )); then order=(cluster single); else order=(single cluster); fi
        for setup in "${order[@]}"; do run_once "$setup" "$test" "$size" "$pipe" "$round"; done
      done
    done
  done
  if [[ $PROFILE == 1 && $PERF_OK == 1 && ! -s $PROFILE_TXT ]]; then
    profile_run "$size" "${PIPE_LIST[0]}"
  fi
  # What the cluster saw under load: suspicions, quorum failures and the like.
  for name in "${NODES[@]}"; do
    INFO_NOTES+=("${size} B, $name: $(cli "$name" info cluster 2>/dev/null | tr -d '\r' | awk -F: '
      $1 ~ /^(members_up|members_suspect|members_down|suspicions|members_marked_down|internode_messages_dropped|coordinated_requests|forwarded_writes|quorum_ok|quorum_not_found|quorum_failures|read_repairs|replica_requests|replica_errors)$/ { printf "%s=%s ", $1, $2 }')")
  done
  for name in "${NODES[@]}" s1; do
    stop_node "$name"
    [[ $KEEP_TMP == 1 ]] || rm -rf -- "${DIR[$name]}"
  done
done
ELAPSED=$(( SECONDS - START_TIME ))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report ---------------------------------------------------------------

# raw.tsv: 1 test 2 size 3 pipe 4 setup 5 round 6 req/s (sum) 7 wall req/s 8 avg 9 p50 10 p99
median() {  # median COLUMN TEST SIZE PIPE SETUP (counted runs only)
  awk -F'\t' -v c="$1" -v t="$2" -v s="$3" -v p="$4" -v n="$5" \
    '$1==t && $2==s && $3==p && $4==n && $5 ~ /^[0-9]+$/ {print $c}' "$RAW" | sort -g |
    awk '{a[NR]=$1} END { if (NR == 0) { print "nan"; exit }
         if (NR % 2) printf "%.3f\n", a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'
}

ROWS=$WORK/rows.tsv
printf 'test\tvalue\tpipeline\tcluster req/s\tsingle req/s\tratio\tcluster p50 ms\tsingle p50 ms\tcluster p99 ms\tsingle p99 ms\tp99 ratio\n' >"$ROWS"
for size in "${SIZE_LIST[@]}"; do
  for test in "${TEST_LIST[@]}"; do
    up=$(printf '%s' "$test" | tr '[:lower:]' '[:upper:]')
    for pipe in "${PIPE_LIST[@]}"; do
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$up" "$size" "$pipe" \
        "$(median 6 "$up" "$size" "$pipe" cluster)" "$(median 6 "$up" "$size" "$pipe" single)" \
        "$(median 9 "$up" "$size" "$pipe" cluster)" "$(median 9 "$up" "$size" "$pipe" single)" \
        "$(median 10 "$up" "$size" "$pipe" cluster)" "$(median 10 "$up" "$size" "$pipe" single)"
    done
  done
done | awk -F'\t' -v OFS='\t' '
  function commas(x,   s) { if (x == "nan") return "n/a"; x = sprintf("%.0f", x); s = ""
    while (length(x) > 3) { s = "," substr(x, length(x) - 2) s; x = substr(x, 1, length(x) - 3) }
    return x s }
  function ms(x) { return (x == "nan" ? "n/a" : sprintf("%.3f", x)) }
  function ratio(a, b) { return (a != "nan" && b != "nan" && b > 0 ? sprintf("%.2f", a / b) : "n/a") }
  { print $1, ($2 >= 1024 && $2 % 1024 == 0 ? ($2 / 1024) " KiB" : $2 " B"), $3,
          commas($4), commas($5), ratio($4, $5), ms($6), ms($7), ms($8), ms($9), ratio($8, $9) }' >>"$ROWS"

cpu_model=$(cpu_model)
git_rev=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
bin_time=$(date -r "$RINGKV_SERVER" '+%Y-%m-%d %H:%M:%S' 2>/dev/null || echo unknown)
HEADER=$WORK/header.md
{
  printf '# ringkv: 3-node cluster vs single node, %s\n\n' "$DATE_HUMAN"
  if (( REQUESTS < 100000 || REPEATS < 3 )); then
    printf '**Small run (REQUESTS=%s, REPEATS=%s): a smoke test, not a measurement.**\n\n' "$REQUESTS" "$REPEATS"
  fi
  if (( ERROR_RUNS > 0 )); then
    printf '**%d run(s) got error replies and are not counted: see "Error replies" below.**\n\n' "$ERROR_RUNS"
  fi
  printf -- '- Date: %s\n' "$DATE_HUMAN"
  printf -- '- Machine: nproc %s, CPU %s, kernel %s, memory %s; load average %s at the start, %s at the end\n' \
    "$NPROC" "${cpu_model:-unknown}" "$(uname -r)" "$(awk '/^MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)" \
    "$LOAD_START" "$LOAD_END"
  printf -- '- ringkv: %s (%s; repo %s; binary built %s); --threads %s per node%s\n' "$RINGKV_SERVER" \
    "${VERSION_SEEN:-unknown}" "$git_rev" "$bin_time" "$THREADS" "${RINGKV_ARGS:+; RINGKV_ARGS: $RINGKV_ARGS}"
  printf -- '- Storage (CONFIG GET on n1 and s1): engine %s; fsync %s%s\n' "$ENGINE_SEEN" "$FSYNC_SEEN" \
    "$([[ -z $FSYNC ]] && printf ' (the server default: no --fsync given)')"
  printf -- '- Cluster: 3 nodes n1..n3 on 127.0.0.11-13, quorum %s(defaults); single node s1 on 127.0.0.10, no cluster flags\n' "$QUORUM_SEEN"
  printf -- '- Load: %s; %d loaders at once per run, %s clients and %s requests in total (split evenly), -r %s; cluster: one loader per node; single: all %d on s1\n' \
    "$(redis-benchmark --version 2>/dev/null | head -n 1)" "$LOADERS" "$CLIENTS" "$REQUESTS" "$KEYSPACE" "$LOADERS"
  if [[ $PIN == 1 ]]; then
    printf -- '- Pinning: nodes on CPUs %s, loaders on CPUs %s (taskset)\n' "$SERVER_CPUS" "$BENCH_CPUS"
  else
    printf -- '- Pinning: none (PIN=0): nodes and loaders share all %s CPUs\n' "$NPROC"
  fi
  printf -- '- %s repeat(s) per row and setup, median shown; cluster and single take turns, who goes first alternates\n' "$REPEATS"
  if [[ $FILL == 1 ]]; then
    printf -- '- Fill before each value size, on fresh nodes (every key once, redis-cli --pipe, split over the loaders'"'"' targets):\n'
    for l in "${FILL_NOTES[@]}"; do printf '  - %s\n' "$l"; done
  else
    printf -- '- No fill (FILL=0): GETs of keys no SET wrote miss\n'
  fi
  printf -- '- Wall time: %s s\n' "$ELAPSED"
  printf '\nNodes (started afresh for each value size; ports are picked per run):\n\n```\n'
  printf '%s\n' "${SERVER_LINES[@]}"
  printf '```\n\nLoaders (HOST/PORT: the target node):\n\n```\n'
  printf '%s\n' "${CMDLINES[@]}"
  printf '```\n\n'
  printf 'req/s = the sum of the loaders'"'"' req/s. p50 = the mean of the loaders'"'"' p50s; p99 = the worst loader'"'"'s p99. ratio = cluster / single (req/s: below 1 means the cluster served fewer; p99: above 1 means the cluster'"'"'s tail is higher). Latencies in ms, medians over repeats.\n\n'
} >"$HEADER"
TABLE=$WORK/table.md
md_table lllrrrrrrrr <"$ROWS" >"$TABLE"
EXTRA=$WORK/extra.md
{
  if [[ -s $ERRS ]]; then
    printf '\n## Error replies\n\n```\n'; cat "$ERRS"; printf '```\n'
  fi
  printf '\n## INFO cluster after each value size\n\n'
  for l in "${INFO_NOTES[@]}"; do printf -- '- %s\n' "$l"; done
  if [[ $PROFILE == 1 ]]; then
    printf '\n## Profile (PROFILE=1)\n\n'
    if [[ -s $PROFILE_TXT ]]; then
      printf 'One extra cluster SET run (%s B, P%s, %s requests; its numbers are the "profile" rows below, not counted), profiled system-wide; n1 shown alone below.\n\n' \
        "${SIZE_LIST[0]}" "${PIPE_LIST[0]}" "$PROFILE_REQUESTS"
      cat "$PROFILE_TXT"
    else
      printf '%s\n' "${PERF_NOTE:-no profile taken}"
    fi
  fi
  printf '\n## All runs\n\n'
  { printf 'test\tvalue B\tpipeline\tsetup\tround\tsum req/s\twall req/s\tavg ms\tp50 ms\tp99 ms\n'; cat "$RAW"; } |
    md_table llllrrrrrr
  printf '\n### Per loader\n\n'
  { printf 'test\tvalue B\tpipeline\tsetup\tround\tloader\tnode\treq/s\tavg ms\tmin ms\tp50 ms\tp95 ms\tp99 ms\tmax ms\n'; cat "$RAWP"; } |
    md_table llllrrlrrrrrrr
} >"$EXTRA"

mkdir -p "$OUT_DIR"
cat "$HEADER" "$TABLE" "$EXTRA" >"$REPORT"
printf '\n'
cat "$HEADER" "$TABLE"
if [[ -s $ERRS ]]; then printf '\nError replies:\n'; cat "$ERRS"; fi
if [[ $PROFILE == 1 ]]; then
  printf '\nProfile: n1 during one extra cluster SET run, self time by thread and symbol (the report has more):\n'
  if [[ -s $PROFILE_SUMMARY ]]; then head -n 30 "$PROFILE_SUMMARY"
  else printf '%s\n' "${PERF_NOTE:-no profile taken}"; fi
fi
printf '\nReport (with every run): %s\n' "${REPORT#"$REPO_ROOT"/}"
(( ERROR_RUNS == 0 )) || exit 2
