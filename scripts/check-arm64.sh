#!/usr/bin/env bash
# Tests the aarch64 (NEON) variants of the C kernels on an x86_64 machine: cross-compiles
# Sources/CEmberKernels/*.c with the checks in Tests/arm64 for aarch64 and runs them under
# qemu-aarch64 (on an aarch64 machine it simply builds and runs them natively). On x86_64 it
# also builds the same checks natively, which runs them against the AVX2/AVX-512 variants (a
# check of the checks themselves) and gives the AVX2 vector-math results that the NEON ones
# must equal bit for bit.
#
#   scripts/check-arm64.sh        # last line: "arm64: PASS ...", "arm64: FAIL ..." or "arm64: skipped: <why>"
#
# Exit status 1 only for a real failure (a kernel disagrees with its reference). Missing tools
# are installed when that is possible (root or passwordless sudo, apt-get: qemu-user,
# libc6-dev-arm64-cross, libgcc-N-dev-arm64-cross; about 160 MB, most of it qemu for other
# targets); otherwise the script prints "arm64: skipped: <why>" and exits 0. Needs clang (Swift
# toolchains ship one next to `swift`); EMBER_ARM64_CC overrides it. Builds go to
# .build/arm64-check and are reused when no source changed.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build="$root/.build/arm64-check"
mkdir -p "$build"

start=$(date +%s)
skip() { echo "arm64: skipped: $*"; exit 0; }
fail() { echo "arm64: FAIL: $*"; exit 1; }

# --- tools ---------------------------------------------------------------------------------------
find_clang() {
    if [[ -n "${EMBER_ARM64_CC:-}" ]]; then command -v "$EMBER_ARM64_CC"; return; fi
    if command -v clang >/dev/null 2>&1; then command -v clang; return; fi
    local swift
    swift=$(command -v swift 2>/dev/null) || return 1
    swift=$(readlink -f "$swift")
    [[ -x "$(dirname "$swift")/clang" ]] && echo "$(dirname "$swift")/clang"
}
cc=$(find_clang) || true
[[ -n "$cc" ]] || skip "no clang (set EMBER_ARM64_CC, or put a Swift toolchain's clang on PATH)"

host=$(uname -m)
qemu=""
cross_ready() {
    # glibc for aarch64 and GCC's aarch64 runtime (crtbeginT.o, libgcc.a), as Debian/Ubuntu lay them out.
    [[ -f /usr/aarch64-linux-gnu/lib/crt1.o ]] && compgen -G "/usr/lib/gcc-cross/aarch64-linux-gnu/*/crtbeginT.o" >/dev/null
}
find_qemu() { qemu=$(command -v qemu-aarch64 || command -v qemu-aarch64-static || true); [[ -n "$qemu" ]]; }

install_cross_tools() {
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        sudo -n true 2>/dev/null || return 1
        sudo=(sudo -n)
    fi
    command -v apt-get >/dev/null 2>&1 || return 1
    # Bounded, like the OpenBLAS step of .ci/run: a network that drops packets must not hang CI.
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive timeout 300 apt-get)
    # The cross libgcc is versioned (libgcc-12-dev-arm64-cross on Debian 12); take the newest.
    newest_libgcc() {
        apt-cache search --names-only '^libgcc-[0-9]+-dev-arm64-cross$' 2>/dev/null | cut -d' ' -f1 | sort -V | tail -n 1
    }
    local libgcc
    libgcc=$(newest_libgcc)
    if [[ -z "$libgcc" ]]; then
        "${apt[@]}" update -qq >"$build/apt.log" 2>&1 || return 1
        libgcc=$(newest_libgcc)
        [[ -n "$libgcc" ]] || return 1
    fi
    local install=("${apt[@]}" install -y -qq --no-install-recommends qemu-user libc6-dev-arm64-cross "$libgcc")
    "${install[@]}" >>"$build/apt.log" 2>&1 && return 0
    # Stale package lists: refresh once and retry.
    "${apt[@]}" update -qq >>"$build/apt.log" 2>&1 && "${install[@]}" >>"$build/apt.log" 2>&1
}

case "$host" in
aarch64 | arm64) target_flags=() ;;
x86_64)
    if ! find_qemu || ! cross_ready; then
        echo "arm64: installing qemu-user and the aarch64 C library (apt-get)"
        install_cross_tools || skip "qemu-aarch64 or the aarch64 cross C library is missing and could not be" \
            "installed (needs root or sudo, apt-get and network; see $build/apt.log)"
        find_qemu && cross_ready || skip "qemu-aarch64 or the aarch64 cross C library is still missing after apt-get"
    fi
    target_flags=(--target=aarch64-linux-gnu)
    # The host's linker cannot link aarch64: lld (next to a Swift toolchain's clang) can.
    if [[ -x "$(dirname "$cc")/ld.lld" ]] || command -v ld.lld >/dev/null 2>&1; then
        target_flags+=(-fuse-ld=lld)
    elif ! command -v aarch64-linux-gnu-ld >/dev/null 2>&1; then
        skip "no linker for aarch64 (ld.lld or aarch64-linux-gnu-ld from binutils-aarch64-linux-gnu)"
    fi
    ;;
*) skip "host architecture $host (only x86_64 and aarch64 hosts are supported)" ;;
esac

# --- build ---------------------------------------------------------------------------------------
sources=(Sources/CEmberKernels/*.c Tests/arm64/*.c)
jobs=$(nproc 2>/dev/null || echo 2)

# Compiles every source to an object in parallel and links `out`; skipped when the sources,
# headers and flags are those of the last build.
build_checks() {
    local out=$1
    shift
    local flags=("$@" -O2 -ISources/CEmberKernels/include -ITests/arm64)
    local stamp
    stamp=$(cat Sources/CEmberKernels/*.[ch] Sources/CEmberKernels/include/*.h Tests/arm64/* | cksum)
    stamp="$stamp ${flags[*]} $("$cc" --version | head -n 1)"
    if [[ -x "$out" && -f "$out.stamp" && "$(cat "$out.stamp")" == "$stamp" ]]; then return 0; fi
    local objects="$out.objects" source object
    rm -rf "$objects" && mkdir -p "$objects"
    for source in "${sources[@]}"; do
        object="$objects/$(echo "$source" | tr / _).o"
        "$cc" "${flags[@]}" -c "$source" -o "$object" 2>>"$objects/warnings.log" &
        while (($(jobs -rp | wc -l) >= jobs)); do wait -n; done
    done
    wait
    for source in "${sources[@]}"; do [[ -f "$objects/$(echo "$source" | tr / _).o" ]] || return 1; done
    "$cc" "$@" "$objects"/*.o -lm -o "$out" 2>>"$objects/warnings.log" || return 1
    echo "$stamp" >"$out.stamp"
}

installed=$(date +%s)
if [[ "$host" == x86_64 ]]; then
    # Both builds at once: each ends with a few slow files on one core.
    build_checks "$build/check-aarch64" "${target_flags[@]}" -static &
    aarch64_build=$!
    build_checks "$build/check-native" &
    native_build=$!
    wait $aarch64_build || fail "the aarch64 build failed (see $build/check-aarch64.objects/warnings.log)"
    wait $native_build || fail "the native build failed (see $build/check-native.objects/warnings.log)"
else
    build_checks "$build/check-aarch64" || fail "the build failed (see $build/check-aarch64.objects/warnings.log)"
fi
built=$(date +%s)

# --- run -----------------------------------------------------------------------------------------
status=0
# Runs one build; a crash (a kernel reading or writing past an operand hits a guard page) is a
# failure like any other, and says so.
run_checks() {
    local log=$1 rc
    shift
    "$@" >"$log" 2>&1
    rc=$?
    if ((rc > 128)); then
        local section
        section=$(grep -E '^(gemm|vector math|reductions|elementwise)$' "$log" | tail -n 1)
        echo "  FAIL: crashed with signal $((rc - 128)) in section \"$section\"" >>"$log"
    fi
    ((rc == 0)) || status=1
}
if [[ "$host" == x86_64 ]]; then
    run_checks "$build/aarch64.log" "$qemu" "$build/check-aarch64"
    run_checks "$build/native.log" "$build/check-native"
else
    run_checks "$build/aarch64.log" "$build/check-aarch64"
fi
ran=$(date +%s)

grep -v '^bits ' "$build/aarch64.log" | sed 's/^/  aarch64 | /'
if [[ "$host" == x86_64 ]]; then
    grep -E '^(architecture|  level|kernel checks|  FAIL)' "$build/native.log" | sed 's/^/  x86_64  | /'
    # The NEON vector math must give the AVX2 variant's bits (NaN payloads aside) for every op.
    native_level=$(sed -n 's/^architecture .*detected level \([0-9]\).*/\1/p' "$build/native.log")
    if [[ "$native_level" == 1 || "$native_level" == 2 ]]; then
        neon_bits=$(grep '^bits ' "$build/aarch64.log")
        avx2_bits=$(grep '^bits ' "$build/native.log")
        differing=$(diff <(echo "$neon_bits") <(echo "$avx2_bits") | grep '^<' | cut -d' ' -f4- | paste -sd ';' -)
        if [[ -z "$neon_bits" ]]; then
            echo "  bits: no vector math results to compare"
            status=1
        elif [[ -n "$differing" ]]; then
            echo "  bits: NEON and AVX2 vector math differ for: $differing"
            status=1
        else
            echo "  bits: NEON vector math equals AVX2's bit for bit ($(echo "$neon_bits" | wc -l) ops)"
        fi
    else
        echo "  bits: not compared (this x86_64 CPU has no AVX2)"
    fi
fi

timing="install $((installed - start)) s, build $((built - installed)) s, run $((ran - built)) s"
checks() { sed -n 's/^kernel checks: PASS (\([0-9]*\) checks.*/\1/p' "$1"; }
[[ $status -eq 0 ]] || fail "kernel checks failed ($timing; logs in $build)"
if [[ "$host" == x86_64 ]]; then
    echo "arm64: PASS: $(checks "$build/aarch64.log") checks of the NEON kernels under qemu-aarch64," \
         "$(checks "$build/native.log") of the x86_64 ones ($timing)"
else
    echo "arm64: PASS: $(checks "$build/aarch64.log") checks of the NEON kernels ($timing)"
fi
