#!/usr/bin/env bash
# Builds oxloop's release wheel for each CPython version into dist/, then
# installs each into a fresh venv and smoke-tests it there.
#
#   bash scripts/build-wheels.sh [VERSION...]   # VERSION as for scripts/python.sh
#
# Without VERSIONs: every version present or cached on the machine
# (`scripts/python.sh --available`). The wheels are maturin's release builds
# with the release profile of Cargo.toml (fat LTO), one cargo target dir per
# version in $OXLOOP_WHEELS_CACHE (default ~/.cache/oxloop-wheels) so that a
# rebuild only recompiles what changed. The smoke test: the wheel alone
# (no index, no dependencies) installed into a new venv outside the checkout,
# `python -m oxloop examples/math_tasks.py` must run on oxloop's loop and
# print what `python examples/math_tasks.py` prints on asyncio's.
# Prints a table (version, wheel, smoke test); exits non-zero if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
wcache=${OXLOOP_WHEELS_CACHE:-$HOME/.cache/oxloop-wheels}
example=examples/math_tasks.py

say() { echo "build-wheels: $*" >&2; }

versions=("$@")
if [ ${#versions[@]} -eq 0 ]; then
  mapfile -t versions < <(bash scripts/python.sh --available)
fi
[ ${#versions[@]} -gt 0 ] || {
  say "no interpreter found"
  exit 1
}
mkdir -p dist

# build VERSION INTERP: prints the wheel's path
build() {
  local ver=$1 interp=$2 dir=$wcache/$1 out
  mkdir -p "$dir"
  if [ ! -x "$dir/tools/bin/maturin" ]; then
    rm -rf "$dir/tools"
    "$interp" -m venv "$dir/tools" >&2
    "$dir/tools/bin/python" -m pip install --quiet --prefer-binary maturin >&2
  fi
  out=$(mktemp -d)
  CARGO_TARGET_DIR=$dir/target "$dir/tools/bin/maturin" build --release \
    --interpreter "$dir/tools/bin/python" --out "$out" >&2
  local wheel
  wheel=$(find "$out" -name 'oxloop-*.whl' | head -n 1)
  [ -n "$wheel" ] || return 1
  mv -f "$wheel" dist/
  rmdir "$out" 2>/dev/null || true
  echo "$repo/dist/$(basename "$wheel")"
}

# smoke INTERP WHEEL: fresh venv, the wheel alone, one example on oxloop
smoke() {
  local interp=$1 wheel=$2 venv expected got where
  venv=$(mktemp -d)/venv
  "$interp" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --no-index --no-deps "$wheel" >&2
  where=$(cd / && "$venv/bin/python" -c 'import oxloop; print(oxloop.__file__)')
  case "$where" in
    "$venv"/*) ;;
    *)
      say "oxloop imported from $where, not from the venv"
      return 1
      ;;
  esac
  expected=$(timeout 120 "$venv/bin/python" "$example")
  got=$(timeout 120 "$venv/bin/python" -m oxloop "$example")
  rm -rf "$(dirname "$venv")"
  if [ "$got" != "$expected" ]; then
    say "$example printed different output under oxloop:"
    diff <(echo "$expected") <(echo "$got") >&2 || true
    return 1
  fi
}

failed=0
rows=()
for ver in "${versions[@]}"; do
  start=$SECONDS
  if ! interp=$(bash scripts/python.sh "$ver" | tail -n 1) || [ -z "$interp" ]; then
    rows+=("| $ver | no interpreter | |")
    failed=1
    continue
  fi
  say "$ver: building with $interp"
  if ! wheel=$(build "$ver" "$interp"); then
    rows+=("| $ver | build failed | |")
    failed=1
    continue
  fi
  say "$ver: smoke test of $(basename "$wheel")"
  if smoke "$interp" "$wheel"; then
    rows+=("| $ver | dist/$(basename "$wheel") | ok |")
  else
    rows+=("| $ver | dist/$(basename "$wheel") | FAILED |")
    failed=1
  fi
  say "$ver: done in $((SECONDS - start)) s"
done

echo
echo "| version | wheel | smoke test |"
echo "| --- | --- | --- |"
printf '%s\n' "${rows[@]}"
exit "$failed"
