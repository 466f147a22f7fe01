#!/usr/bin/env bash
# Builds every fuzz target and runs each one for a few seconds, one after
# the other. Exits non-zero if a build fails or a target finds a crash
# (panic, hang past -timeout, out-of-memory); the reproducer is left in
# fuzz/artifacts/<target>/. See docs/FUZZING.md.
#
# Environment:
#   FUZZ_TOOLCHAIN  toolchain for cargo-fuzz (default: nightly; empty: the
#                   default toolchain, e.g. stable with RUSTC_BOOTSTRAP=1,
#                   which accepts the sanitizer flags cargo-fuzz passes)
#   FUZZ_SECONDS    seconds per target (default: 5)
#   FUZZ_TARGETS    space-separated subset of targets (default: all)
set -euo pipefail

cd "$(dirname "$0")"
toolchain="${FUZZ_TOOLCHAIN-nightly}"
cargo_fuzz=(cargo)
[ -n "$toolchain" ] && cargo_fuzz+=("+$toolchain")
cargo_fuzz+=(fuzz)
seconds="${FUZZ_SECONDS:-5}"

if ! "${cargo_fuzz[@]}" --version >/dev/null 2>&1; then
    echo "smoke.sh: cargo-fuzz is missing: cargo install cargo-fuzz" >&2
    exit 2
fi

targets="${FUZZ_TARGETS:-$("${cargo_fuzz[@]}" list)}"

echo "== building: $(echo $targets)"
"${cargo_fuzz[@]}" build

failed=()
for t in $targets; do
    echo "== $t (${seconds}s)"
    # -timeout: one input may take at most this long (the first input of
    # the SCEP/CMP targets makes the CA's RSA keys).
    if ! "${cargo_fuzz[@]}" run "$t" -- \
        -max_total_time="$seconds" -timeout=120 -print_final_stats=1; then
        failed+=("$t")
    fi
done

if ((${#failed[@]})); then
    echo "smoke.sh: crashes in: ${failed[*]} (reproducers in fuzz/artifacts/)" >&2
    exit 1
fi
echo "smoke.sh: all targets ran ${seconds}s without a crash"
