#!/usr/bin/env bash
# run.sh BUILD_DIR SECONDS - runs every BUILD_DIR/fuzz_* libFuzzer binary for
# SECONDS seconds each.
#
# Each fuzzer NAME (binary fuzz_NAME) starts from tests/fuzz/corpus/NAME/,
# copied to a temporary directory first so that a run never rewrites the
# checked-in seeds; the copy is removed on exit. A crash, leak, sanitizer
# report or timeout makes libFuzzer exit non-zero; this script then goes on
# with the other fuzzers and exits non-zero at the end. Reproducers are kept
# in BUILD_DIR/fuzz-artifacts/NAME/ (a build output, outside the source tree).
set -euo pipefail

if [[ $# -ne 2 ]]; then
	echo "usage: $0 BUILD_DIR SECONDS" >&2
	exit 2
fi
build_dir=$1
seconds=$2
if ! [[ $seconds =~ ^[0-9]+$ ]] || [[ $seconds -eq 0 ]]; then
	echo "run.sh: SECONDS must be a positive integer, got '$seconds'" >&2
	exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ringkv-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

shopt -s nullglob
fuzzers=("$build_dir"/fuzz_*)
if [[ ${#fuzzers[@]} -eq 0 ]]; then
	echo "run.sh: no fuzz_* binaries in $build_dir (configure with -DRINGKV_FUZZ=ON)" >&2
	exit 2
fi

failed=()
for bin in "${fuzzers[@]}"; do
	[[ -f $bin && -x $bin ]] || continue
	name=$(basename "$bin")
	name=${name#fuzz_}
	corpus="$work/$name"
	mkdir -p "$corpus"
	if [[ -d $here/corpus/$name ]]; then
		cp -R "$here/corpus/$name/." "$corpus/"
	else
		echo "run.sh: warning: no seed corpus at $here/corpus/$name" >&2
	fi
	artifacts="$build_dir/fuzz-artifacts/$name"
	mkdir -p "$artifacts"

	echo "== fuzz_$name: ${seconds}s, $(ls "$corpus" | wc -l) seeds"
	# -timeout: one input running this long is a hang, reported as a crash.
	# -rss_limit_mb: a parser that allocates what a peer announces shows here.
	if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus"; then
		echo "== fuzz_$name: ok"
	else
		rc=$?
		echo "== fuzz_$name: FAILED (exit $rc); reproducers in $artifacts/" >&2
		failed+=("$name")
	fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
	echo "run.sh: failing fuzzers: ${failed[*]}" >&2
	exit 1
fi
