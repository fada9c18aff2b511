#!/usr/bin/env bash
# Build native._kernels with AddressSanitizer + UBSan (CUEKIT_SANITIZE=1, see setup.py) into a
# temporary directory and run tests/native against that build. The in-place build in the
# checkout is left untouched. Usage: native/sanitize.sh [extra pytest args]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
py="${PYTHON:-$repo/.venv/bin/python}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cd "$repo"
CUEKIT_SANITIZE=1 "$py" setup.py -q build_ext --build-lib "$tmp/lib" --build-temp "$tmp/obj" \
    >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }

# A copy of the Python faces next to the sanitized extension; run from there so `import native`
# resolves to it (the current directory comes first on sys.path with `python -m pytest`).
mkdir -p "$tmp/run/native"
cp native/*.py "$tmp/run/native/"
cp "$tmp"/lib/native/_kernels*.so "$tmp/run/native/"
if ! nm -D "$tmp"/run/native/_kernels*.so | grep -q __asan_report_load \
        || ! nm -D "$tmp"/run/native/_kernels*.so | grep -q __ubsan_handle; then
    echo "sanitize.sh: the extension was not instrumented" >&2; exit 1
fi

libasan="$(gcc -print-file-name=libasan.so)"
libubsan="$(gcc -print-file-name=libubsan.so)"
export LD_PRELOAD="$libasan:$libubsan"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
cd "$tmp/run"
"$py" - <<'PY'
import native._kernels as k
assert "/run/native/" in k.__file__, k.__file__
print("sanitized build:", k.__file__)
PY
"$py" -m pytest "$repo/tests/native" -q -p no:cacheprovider "$@"
