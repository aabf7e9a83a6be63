#!/usr/bin/env bash
# Fuzz every parser that reads bytes from outside (fuzz/README.md): build the
# libFuzzer targets with clang under ASan/UBSan into build/fuzz, then run each
# for SECONDS (default 30) from its committed seed corpus (fuzz/corpus/<target>).
# New inputs go to build/fuzz/corpus/<target>, crash inputs to
# build/fuzz/crashes/<target>/ (kept); exit 1 when any target crashed.
# Usage: ci/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
shift || true
ci/install-deps.sh fuzz
out=build/fuzz
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_dns_parse fuzz_dnszone fuzz_agent_cmd fuzz_netsim_rules fuzz_netsim_frame)
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
CC=clang cmake -S . -B "$out" -DFWNET_FUZZ=ON -DFWNET_EFI=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS="$san" >"$out.configure.log" 2>&1 || { tail -20 "$out.configure.log"; exit 1; }
cmake --build "$out" --target "${targets[@]}" -j "$(nproc)" >"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
failed=()
for t in "${targets[@]}"; do
  mkdir -p "$out/corpus/$t" "$out/crashes/$t"
  log=$out/$t.log
  echo "fuzz: $t for ${secs}s (seeds: $(ls fuzz/corpus/$t | wc -l))"
  if ! "$out/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
       -artifact_prefix="$out/crashes/$t/" -print_final_stats=1 \
       "$out/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1; then
    failed+=("$t")
    echo "fuzz: $t CRASHED; input kept in $out/crashes/$t/, log $log" >&2
    grep -m5 -E "ERROR|runtime error|SUMMARY" "$log" >&2 || tail -20 "$log" >&2
  else
    grep -E "^stat::number_of_executed_units|^#[0-9]+.*DONE" "$log" | tail -2 | sed "s/^/fuzz: $t: /"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) crashed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${secs}s each, no crashes"
