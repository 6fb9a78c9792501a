#!/usr/bin/env bash
# Builds the libFuzzer targets with clang++-14 (a configure of its own, LB_FUZZ=ON, in
# build/fuzz or $FUZZ_BUILD) and runs each for FUZZ_SECONDS seconds (first argument or the
# environment; default 20) on a copy of its seed corpus in a temporary directory, so nothing is
# written into the source tree. One summary line per target.
#
# Exit status: 0 all clean; 1 a fuzzer crashed, leaked, timed out or ran out of memory (its
# output and the reproducer's path are printed; re-run with `BINARY REPRODUCER`); 77 when
# clang++-14 or libFuzzer (Debian: clang-14, libclang-rt-14-dev) is missing, so ctest skips.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-${FUZZ_SECONDS:-20}}
build=${FUZZ_BUILD:-$repo/build/fuzz}
case $build in /*) ;; *) build=$PWD/$build ;; esac
jobs=${FUZZ_JOBS:-${JOBS:-2}}
cxx=${FUZZ_CXX:-clang++-14}
fuzzers="line_splitter target_address options live_config fleet_config"

if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "run_fuzzers.sh: FUZZ_SECONDS must be a whole number of seconds, got \"$seconds\"" >&2
  exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/lb-fuzz.XXXXXX")
keep_work=false
cleanup() { if [ "$keep_work" = false ]; then rm -rf "$work"; fi; }
trap cleanup EXIT

# clang and libFuzzer's runtime are separate Debian packages: try both at once.
if ! command -v "$cxx" >/dev/null 2>&1 ||
  ! echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }' |
  "$cxx" -x c++ -fsanitize=fuzzer,address,undefined - -o "$work/probe" >/dev/null 2>&1; then
  echo "run_fuzzers.sh: SKIP: $cxx with libFuzzer is missing (make deps installs clang-14" \
    "and libclang-rt-14-dev)"
  exit 77
fi

launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

start=$(date +%s)
echo "run_fuzzers.sh: building in $build"
nice -n 10 cmake -S "$repo" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DLB_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; exit 1; }
nice -n 10 cmake --build "$build" --target lb_fuzzers -j"$jobs" >"$work/build.log" 2>&1 ||
  { tail -n 60 "$work/build.log"; exit 1; }
echo "run_fuzzers.sh: built in $(($(date +%s) - start)) s; $seconds s per fuzzer"

# Reports go to the log; a sanitizer report must abort (not exit quietly) to count as a crash.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
for name in $fuzzers; do
  binary=$build/tests/fuzz/fuzz_$name
  dir=$work/$name
  mkdir -p "$dir/corpus"
  cp "$repo/tests/fuzz/corpus/$name"/* "$dir/corpus/"
  dict=()
  if [ -f "$repo/tests/fuzz/$name.dict" ]; then dict=(-dict="$repo/tests/fuzz/$name.dict"); fi
  status=0
  "$binary" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -error_exitcode=1 \
    -print_final_stats=1 -artifact_prefix="$dir/" "${dict[@]}" "$dir/corpus" >"$dir/log" 2>&1 ||
    status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -n 1)
  time=$(sed -n 's/.*Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$dir/log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' "$dir/log" | tail -n 1 || true)
  artifacts=$(ls "$dir" | grep -E '^(crash|leak|timeout|oom)-' || true)
  if [ "$status" -eq 0 ] && [ -z "$artifacts" ]; then
    printf 'fuzz_%-15s ok    %10s execs in %3s s (%s/s), %s\n' "$name" "${execs:-?}" \
      "${time:-?}" "${rate:-?}" "${cov:-no coverage line}"
    continue
  fi
  failed=1
  keep_work=true
  printf 'fuzz_%-15s FAIL  exit %s after %s execs\n' "$name" "$status" "${execs:-?}"
  tail -n 60 "$dir/log"
  for a in $artifacts; do
    echo "reproducer: $dir/$a  (run: $binary $dir/$a)"
  done
done
echo "run_fuzzers.sh: $(($(date +%s) - start)) s in all"
exit $failed
