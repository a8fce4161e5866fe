#!/usr/bin/env bash
# Prints the path of a python executable for VERSION as its last line.
#
#   bash scripts/python.sh VERSION      # VERSION: 3.11 3.12 3.13 3.14 3.15 3.14t 3.15t
#
# The machine's own interpreter is used where there is one (pyenv's, or
# pythonX.Y / pythonX.Yt on PATH) and checked to be the right version and
# build (free-threaded or not). Otherwise one is built once, without PGO,
# from the upstream sources in Debian unstable's source package pythonX.Y
# (`apt-get source`), into a cache outside the repository
# ($OXLOOP_PYTHON_CACHE, default ~/.cache/oxloop-python), and reused.
# Build logs go to that cache's logs/ folder; progress to stderr.
# Where Debian's source package cannot be fetched, 3.14 and 3.15 come from
# Debian unstable's binary packages instead (scripts/python-from-debs.sh);
# free-threaded builds then cannot be had and the script fails.
#
# Other scripts (test-matrix.sh, build-wheels.sh) call this: keep its
# interface. `--cached-only` prints nothing and exits 1 instead of building.
# `--available` prints, one a line, each VERSION that is present or cached.
set -euo pipefail

if [ "${1:-}" = "--available" ]; then
  for v in 3.11 3.12 3.13 3.14 3.15 3.14t 3.15t; do
    if bash "$0" --cached-only "$v" >/dev/null 2>&1; then
      echo "$v"
    fi
  done
  exit 0
fi

cached_only=""
if [ "${1:-}" = "--cached-only" ]; then
  cached_only=1
  shift
fi
ver=${1:-}
case "$ver" in
  3.1[1-9] | 3.1[1-9]t) ;;
  *)
    echo "usage: scripts/python.sh [--cached-only] VERSION (3.11 .. 3.15, 3.14t, 3.15t)" >&2
    exit 2
    ;;
esac
base=${ver%t}
gil_disabled=0
[ "$ver" != "$base" ] && gil_disabled=1
cache=${OXLOOP_PYTHON_CACHE:-$HOME/.cache/oxloop-python}

log() { echo "python.sh: $*" >&2; }

# Does $1 run, with version $base and the wanted GIL build?
fits() {
  [ -x "$1" ] || return 1
  "$1" - "$base" "$gil_disabled" <<'EOF' >/dev/null 2>&1
import sys, sysconfig
want, ft = sys.argv[1], sys.argv[2] == "1"
ok = "%d.%d" % sys.version_info[:2] == want
ok = ok and bool(sysconfig.get_config_var("Py_GIL_DISABLED")) == ft
sys.exit(0 if ok else 1)
EOF
}

candidates() {
  local root
  root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  # newest patch release first
  if [ -d "$root/versions" ]; then
    find "$root/versions" -maxdepth 1 -name "$base.*" 2>/dev/null | sort -rV | while read -r d; do
      echo "$d/bin/python$ver"
    done
  fi
  echo "$cache/$ver/bin/python$ver"
  [ "$gil_disabled" = 1 ] || echo "$cache/$ver/root/usr/bin/python$base" # python-from-debs.sh
  echo "/usr/local/bin/python$ver"
  echo "/usr/bin/python$ver"
  local onpath
  onpath=$(command -v "python$ver" 2>/dev/null || true)
  case "$onpath" in
    *"/shims/"*) ;; # a pyenv shim fails when the version is not selected
    ?*) echo "$onpath" ;;
  esac
}

while read -r cand; do
  if fits "$cand"; then
    echo "$cand"
    exit 0
  fi
done < <(candidates)

if [ -n "$cached_only" ]; then
  exit 1
fi

# ---- build it once -------------------------------------------------------
mkdir -p "$cache/src" "$cache/logs"
exec 9>"$cache/$ver.lock"
flock 9
for built in "$cache/$ver/bin/python$ver" "$cache/$ver/root/usr/bin/python$base"; do
  if fits "$built"; then # made while we waited
    echo "$built"
    exit 0
  fi
done

srcs=/etc/apt/sources.list.d/oxloop-unstable-src.sources
if [ ! -f "$srcs" ]; then
  log "adding a deb-src entry for Debian unstable ($srcs)"
  cat >"$srcs" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: unstable
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt-get update -qq >&2 || true
fi

srcdir="$cache/src/$base"
mkdir -p "$srcdir"
orig=$(find "$srcdir" -maxdepth 1 -name "python${base}_*.orig.tar.*" | sort -V | tail -n 1)
if [ -z "$orig" ]; then
  log "fetching Debian unstable's source package python$base"
  (cd "$srcdir" && apt-get source --download-only -qq "python$base" >&2) ||
    log "apt-get source python$base failed"
  orig=$(find "$srcdir" -maxdepth 1 -name "python${base}_*.orig.tar.*" | sort -V | tail -n 1)
fi

if [ -z "$orig" ]; then
  if [ "$gil_disabled" = 1 ]; then
    log "no free-threaded CPython $base here: its sources (Debian's source package" \
      "python$base) cannot be fetched, and Debian ships no free-threaded binaries"
    exit 1
  fi
  log "no sources for python$base; using Debian unstable's binary packages instead"
  bash "$(dirname "$0")/python-from-debs.sh" "$base" "$cache/$ver/root"
  fits "$cache/$ver/root/usr/bin/python$base" || {
    log "the interpreter unpacked from Debian's packages does not check out"
    exit 1
  }
  echo "$cache/$ver/root/usr/bin/python$base"
  exit 0
fi

need_pkgs=(build-essential dpkg-dev pkg-config libssl-dev zlib1g-dev libbz2-dev libffi-dev
  liblzma-dev libsqlite3-dev libreadline-dev uuid-dev libncurses-dev libgdbm-dev
  libexpat1-dev)
missing=()
for p in "${need_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing build dependencies: ${missing[*]}"
  apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# Upstream's sources (the .orig tarball), without Debian's patches: those
# move the install layout to Debian's (dist-packages, multiarch).
build="$cache/build/$ver"
rm -rf "$build"
mkdir -p "$build"
tar -xf "$orig" -C "$build" --strip-components=1
configure_args=(--prefix="$cache/$ver" --with-ensurepip=install)
[ "$gil_disabled" = 1 ] && configure_args+=(--disable-gil)
logf="$cache/logs/$ver.log"
log "building CPython $ver from $(basename "$orig") into $cache/$ver (log: $logf)"
(
  cd "$build"
  ./configure "${configure_args[@]}"
  make -j2
  make install
) >"$logf" 2>&1 || {
  tail -n 30 "$logf" >&2
  log "build failed, see $logf"
  exit 1
}
# `make install` names the interpreter python3.Y and, for a free-threaded
# build, python3.Yt; make sure the name this script looks for exists.
if [ ! -e "$cache/$ver/bin/python$ver" ]; then
  ln -s "python$base" "$cache/$ver/bin/python$ver"
fi
rm -rf "$build"
fits "$cache/$ver/bin/python$ver" || { log "built interpreter does not check out"; exit 1; }
echo "$cache/$ver/bin/python$ver"
