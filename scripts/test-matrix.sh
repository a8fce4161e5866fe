#!/usr/bin/env bash
# Builds oxloop for each CPython version and runs its tests there, then
# prints one table row per version.
#
#   bash scripts/test-matrix.sh [--skip VERSION]... [VERSION...]
#
# VERSION as for scripts/python.sh (3.11 .. 3.15, 3.14t, 3.15t). Without
# VERSIONs: every version whose interpreter is on the machine or already
# cached (`scripts/python.sh --available`), minus the --skip ones; naming a
# version that is not there makes python.sh build or fetch it once.
#
# Per version, in $OXLOOP_MATRIX_CACHE (default ~/.cache/oxloop-matrix)/VERSION:
#   venv/     a venv of that interpreter with maturin, pytest and whichever
#             dev dependencies install there (a third-party package may have
#             no wheel for a new version; the ones that did not install are
#             listed, and a test file importing one counts as an error)
#   logs/     one log per step; the table points at them when a step fails
# oxloop is built with maturin (release, without LTO to save time) in the
# checkout's own target/matrix-VERSION (pyo3 is rebuilt per version), and
# the wheel installed into the venv. The cargo target dir is per checkout,
# not in the shared cache: cargo judges a path crate fresh by mtimes, so one
# target dir shared by two checkouts (worktrees, CI's clone) links a stale
# build of the other checkout's `reactor` crate.
#
# Columns (each run with the version's own venv python from the repo root):
#   pytest           the pytest suite without the two columns below
#   CPython asyncio  tests/cpython/run_cpython_tests.py, which runs that
#                    version's own test.test_asyncio; its last line
#   examples         tests/test_examples.py (each example under asyncio and
#                    under oxloop, same output)
#   concurrent.futures  tests/concurrent_futures/run_cf_tests.py, which runs
#                    that version's own test_concurrent_futures on oxloop's
#                    pools; its last line
# To add a column, add its title to COLUMNS and a branch to run_column that
# prints the cell.
#
# The last column is the version's wall time (setup included).
# Exits non-zero if a version could not be set up or any test failed.
# Env: OXLOOP_MATRIX_PYTEST_ARGS (extra pytest arguments, e.g. "-k 'not dask'"),
# OXLOOP_MATRIX_CPYTHON_ARGS (extra runner arguments, e.g. "-j 2").
set -euo pipefail
cd "$(dirname "$0")/.."

COLUMNS=("pytest" "CPython asyncio" "examples" "concurrent.futures")
mcache=${OXLOOP_MATRIX_CACHE:-$HOME/.cache/oxloop-matrix}

say() { echo "test-matrix: $*" >&2; }

# ---- setup -----------------------------------------------------------------

# The dev dependencies listed in pyproject.toml, one per line.
dev_dependencies() {
  "$1" - <<'EOF'
import tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["optional-dependencies"]["dev"]))
EOF
}

# setup VERSION: venv with maturin, pytest and the dev dependencies that
# install; oxloop built and installed. Sets $py (the venv's python).
setup() {
  local ver=$1 dir=$mcache/$1 interp
  mkdir -p "$dir/logs"
  interp=$(bash scripts/python.sh "$ver" 2>"$dir/logs/python.log" | tail -n 1) || return 1
  [ -n "$interp" ] || return 1
  py=$dir/venv/bin/python
  # (re)make the venv when it is missing or its interpreter changed
  if ! grep -qxF "executable = $interp" "$dir/venv/pyvenv.cfg" 2>/dev/null ||
    ! "$py" -c "" 2>/dev/null; then
    rm -rf "$dir/venv" "$dir/deps.stamp"
    "$interp" -m venv "$dir/venv" >"$dir/logs/venv.log" 2>&1 || return 1
  fi

  # dependencies: once per content of pyproject.toml
  local want dep
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ "$(cat "$dir/deps.stamp" 2>/dev/null)" != "$want" ]; then
    {
      "$py" -m pip install --quiet --upgrade pip
      "$py" -m pip install --quiet --prefer-binary maturin pytest
    } >"$dir/logs/deps.log" 2>&1 || return 1
    : >"$dir/missing-deps"
    while read -r dep; do
      # --prefer-binary: an older release with a wheel beats a source build
      if ! timeout 900 "$py" -m pip install --quiet --prefer-binary "$dep" >>"$dir/logs/deps.log" 2>&1; then
        echo "$dep" >>"$dir/missing-deps"
      fi
    done < <(dev_dependencies "$py")
    echo "$want" >"$dir/deps.stamp"
  fi
  if [ -s "$dir/missing-deps" ]; then
    say "$ver: not installable here (their tests skip): $(tr '\n' ' ' <"$dir/missing-deps")"
  fi

  # oxloop: a release wheel without LTO, in this version's own target dir
  rm -rf "$dir/wheel"
  CARGO_TARGET_DIR=$PWD/target/matrix-$ver CARGO_PROFILE_RELEASE_LTO=off \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    "$dir/venv/bin/maturin" build --release --interpreter "$py" --out "$dir/wheel" \
    >"$dir/logs/build.log" 2>&1 || return 1
  "$py" -m pip install --quiet --force-reinstall --no-deps "$dir"/wheel/*.whl \
    >>"$dir/logs/build.log" 2>&1 || return 1
}

# ---- columns ---------------------------------------------------------------

failed=0

# pytest_cell LOG: "N passed, N failed, N skipped" from pytest's summary line
pytest_cell() {
  local summary n passed=0 failures=0 skipped=0
  summary=$(grep -E '^=*.* in [0-9.]+s' "$1" | tail -n 1 || true)
  if [ -z "$summary" ]; then
    echo "no result"
    return 1
  fi
  for n in passed failed error errors skipped xfailed xpassed; do
    local c
    c=$(grep -oE "[0-9]+ $n\b" <<<"$summary" | cut -d' ' -f1 || true)
    c=${c:-0}
    case $n in
      passed | xpassed) passed=$((passed + c)) ;;
      failed | error | errors) failures=$((failures + c)) ;;
      *) skipped=$((skipped + c)) ;;
    esac
  done
  echo "$passed passed, $failures failed, $skipped skipped"
  [ "$failures" = 0 ]
}

# run_column TITLE LOG: runs that column's tests with $py, prints the cell;
# fails when a test failed or no result was found.
run_column() {
  local status=0 line
  # shellcheck disable=SC2086 # OXLOOP_MATRIX_PYTEST_ARGS is split on purpose
  case "$1" in
    pytest)
      # a test file that imports a library missing here counts as one error
      timeout 3600 "$py" -m pytest -q -p no:cacheprovider --continue-on-collection-errors tests \
        --ignore=tests/cpython --ignore=tests/test_examples.py \
        ${OXLOOP_MATRIX_PYTEST_ARGS:-} >"$2" 2>&1 || status=$?
      pytest_cell "$2" || status=1
      ;;
    examples)
      timeout 1800 "$py" -m pytest -q -p no:cacheprovider tests/test_examples.py \
        >"$2" 2>&1 || status=$?
      pytest_cell "$2" || status=1
      ;;
    "CPython asyncio")
      timeout 3600 "$py" tests/cpython/run_cpython_tests.py ${OXLOOP_MATRIX_CPYTHON_ARGS:-} \
        >"$2" 2>&1 || status=$?
      line=$(tail -n 1 "$2")
      if [[ "$line" =~ ^[0-9]+\ passed,\ [0-9]+\ failed,\ [0-9]+\ skipped$ ]]; then
        echo "$line"
      else
        echo "no result"
        status=1
      fi
      ;;
    concurrent.futures)
      timeout 3600 "$py" tests/concurrent_futures/run_cf_tests.py >"$2" 2>&1 || status=$?
      line=$(tail -n 1 "$2")
      if grep -q '^UNAVAILABLE:' "$2"; then
        echo "tests not available for this version" # the runner says why
      elif [[ "$line" =~ ^[0-9]+\ passed,\ [0-9]+\ failed$ ]]; then
        echo "$line"
      else
        echo "no result"
        status=1
      fi
      ;;
    *)
      echo "unknown column"
      status=1
      ;;
  esac
  return "$status"
}

# ---- the matrix ------------------------------------------------------------

skip=" "
while [ "${1:-}" = "--skip" ]; do
  skip+="${2:?--skip needs a VERSION} "
  shift 2
done
versions=("$@")
if [ ${#versions[@]} -eq 0 ]; then
  while read -r v; do
    [[ "$skip" == *" $v "* ]] || versions+=("$v")
  done < <(bash scripts/python.sh --available)
fi
if [ ${#versions[@]} -eq 0 ]; then
  say "no other interpreter on this machine; nothing to run"
  exit 0
fi

header="| version |"
rule="| --- |"
for c in "${COLUMNS[@]}"; do
  header+=" $c |"
  rule+=" --- |"
done
header+=" time |"
rule+=" --- |"
rows=()
failures=()
for ver in "${versions[@]}"; do
  dir=$mcache/$ver
  start=$SECONDS
  say "$ver: setting up (logs in $dir/logs)"
  if ! setup "$ver"; then
    failed=1
    row="| $ver | setup failed, see $dir/logs |"
    say "$ver: setup failed; last lines of its newest log:"
    # shellcheck disable=SC2012 # the log names are ours, without odd characters
    tail -n 15 "$(ls -t "$dir"/logs/*.log | head -n 1)" >&2 || true
    rows+=("$row")
    continue
  fi
  row="| $ver ($("$py" -c 'import platform; print(platform.python_version())')) |"
  for c in "${COLUMNS[@]}"; do
    say "$ver: $c"
    log="$dir/logs/${c// /-}.log"
    if cell=$(run_column "$c" "$log"); then
      row+=" $cell |"
    else
      failed=1
      row+=" $cell |"
      failures+=("$ver $c: $log")
    fi
    say "$ver: $c: $cell"
  done
  say "$ver: done in $((SECONDS - start)) s"
  rows+=("$row $(((SECONDS - start + 30) / 60)) min |")
done

echo
echo "$header"
echo "$rule"
printf '%s\n' "${rows[@]}"
if [ ${#failures[@]} -gt 0 ]; then
  echo
  echo "logs of the failing columns:"
  printf '  %s\n' "${failures[@]}"
fi
exit "$failed"
