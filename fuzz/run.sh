#!/bin/sh
# Runs the fuzz targets of a build made with -DCRIO_FUZZ=ON.
#   run.sh smoke BUILD_DIR [SECONDS]   every kept regression input once,
#                                      then each target SECONDS (default 5)
#                                      from its seed corpus; fails on any
#                                      crash, leak or broken invariant
#   run.sh long BUILD_DIR TARGET SECONDS [OUT_DIR]
#                                      one target for SECONDS, growing a
#                                      corpus in OUT_DIR (default
#                                      BUILD_DIR/fuzz/corpus-TARGET) seeded
#                                      from corpus/TARGET; crashes land in
#                                      OUT_DIR/crashes
# New corpus entries of a smoke run go to a temporary directory, never into
# the repository.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mode=${1:?usage: run.sh smoke|long BUILD_DIR ...}
build=${2:?build dir}
bin=$build/fuzz

# Inputs bigger than libFuzzer's 4 KiB default matter for some targets: a
# database file is tens of KiB, a layer tar several blocks.
max_len() {
  case $1 in
    store_db) echo 262144 ;;
    layer_tar) echo 65536 ;;
    cri_request|image_config|manifest) echo 16384 ;;
    *) echo 8192 ;;
  esac
}

options() {
  t=$1
  opts="-max_len=$(max_len "$t") -timeout=25 -rss_limit_mb=2048 -print_final_stats=1"
  [ -f "$here/dict/$t.dict" ] && opts="$opts -dict=$here/dict/$t.dict"
  echo "$opts"
}

targets=$(ls "$bin" | sed -n 's/^fuzz_\(.*\)$/\1/p' | grep -v '^make_seeds$' | grep -v '\.' || true)
[ -n "$targets" ] || { echo "run.sh: no fuzz targets in $bin (make fuzz)" >&2; exit 1; }

case $mode in
smoke)
  secs=${3:-5}
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  failed=""
  for t in $targets; do
    regress="$here/regressions/$t"
    if [ -d "$regress" ] && [ -n "$(ls -A "$regress")" ]; then
      if ! "$bin/fuzz_$t" $(options "$t") "$regress"/* >"$tmp/$t.regress.log" 2>&1; then
        echo "fuzz-smoke: $t: a kept regression input fails again:"; tail -40 "$tmp/$t.regress.log"
        failed="$failed $t"; continue
      fi
    fi
    mkdir -p "$tmp/corpus-$t"
    if "$bin/fuzz_$t" $(options "$t") -max_total_time="$secs" -artifact_prefix="$tmp/$t-" \
        "$tmp/corpus-$t" "$here/corpus/$t" >"$tmp/$t.log" 2>&1; then
      stats=$(grep -E '^#[0-9]+.*(DONE|pulse)' "$tmp/$t.log" | tail -1 | sed 's/^#\([0-9]*\).*cov: \([0-9]*\) ft: \([0-9]*\).*/\1 runs, cov \2, ft \3/')
      echo "fuzz-smoke: $t ok ($stats)"
    else
      echo "fuzz-smoke: $t FAILED:"; tail -60 "$tmp/$t.log"
      for a in "$tmp/$t-"*; do [ -f "$a" ] && echo "  reproducer: $(od -An -c "$a" | head -5)"; done
      failed="$failed $t"
    fi
  done
  [ -z "$failed" ] || { echo "fuzz-smoke: failed:$failed"; exit 1; }
  ;;
long)
  t=${3:?target}
  secs=${4:?seconds}
  out=${5:-$build/fuzz/corpus-$t}
  mkdir -p "$out/crashes"
  exec "$bin/fuzz_$t" $(options "$t") -max_total_time="$secs" -artifact_prefix="$out/crashes/" \
    "$out" "$here/corpus/$t"
  ;;
*)
  echo "run.sh: unknown mode $mode" >&2; exit 2 ;;
esac
