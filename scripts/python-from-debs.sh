#!/usr/bin/env bash
# Makes a runnable CPython VERSION (3.14, 3.15 ...) out of Debian unstable's
# binary packages, unpacked into a private root, without touching the system.
#
#   bash scripts/python-from-debs.sh VERSION ROOT   # then ROOT/usr/bin/pythonVERSION runs
#
# scripts/python.sh uses this when it cannot build VERSION from source. How:
#
# * a private apt configuration (sources: unstable's `deb` entry only; an
#   empty dpkg status, so apt resolves the whole closure as for an empty
#   system) lives in CACHE/apt; the system's sources, status and packages
#   are not read or changed, so nothing on the machine is upgraded;
# * the closure of pythonX.Y, libpythonX.Y-dev, pythonX.Y-venv and
#   libpythonX.Y-testsuite (Debian's split-out `test` package, which holds
#   test.test_asyncio) is downloaded and `dpkg-deb -x`ed into ROOT; it
#   includes unstable's libc6 (newer than the machine's) and the shared
#   libraries the interpreter and its extension modules need;
# * the interpreter binary gets ROOT's dynamic loader as its ELF interpreter
#   and ROOT's library directory as DT_RPATH (patchelf). DT_RPATH (unlike
#   DT_RUNPATH) also applies to libraries dlopen()ed later (lib-dynload's
#   _ssl, _ctypes ...), and as nothing goes through LD_LIBRARY_PATH, the
#   programs it starts (compilers, /bin/sh) run on the system's libraries;
# * the absolute paths that Debian's sysconfig data points at (the wheels
#   ensurepip installs from, the headers) are moved into ROOT, and Debian's
#   multiarch pyconfig.h wrapper is replaced by the real header.
#
# The interpreter then finds its standard library from its own location, so
# venvs, pip, subprocesses and multiprocessing's spawn (which exec
# sys.executable) work. Debian ships no free-threaded build.
set -euo pipefail

ver=${1:?usage: python-from-debs.sh VERSION ROOT}
root=${2:?usage: python-from-debs.sh VERSION ROOT}
case "$ver" in
  3.1[1-9]) ;;
  *)
    echo "python-from-debs.sh: VERSION must be 3.1N (Debian has no free-threaded build)" >&2
    exit 2
    ;;
esac
cache=${OXLOOP_PYTHON_CACHE:-$HOME/.cache/oxloop-python}
log() { echo "python-from-debs.sh: $*" >&2; }

# ---- private apt -----------------------------------------------------------
apt_dir="$cache/apt"
mkdir -p "$apt_dir/etc/sources.list.d" "$apt_dir/etc/preferences.d" "$apt_dir/etc/apt.conf.d" \
  "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/cache"
touch "$apt_dir/status"
cat >"$apt_dir/etc/sources.list" <<'EOF'
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian unstable main
EOF
# Check-Valid-Until: the mirror's unstable Release file may be older than
# the date it claims to be valid until; its signature is still checked.
cat >"$apt_dir/apt.conf" <<EOF
Dir::Etc "$apt_dir/etc/";
Dir::Etc::TrustedParts "/etc/apt/trusted.gpg.d/";
Dir::State::Lists "$apt_dir/lists/";
Dir::State::status "$apt_dir/status";
Dir::Cache "$apt_dir/cache/";
Dir::Cache::Archives "$apt_dir/archives/";
APT::Architecture "amd64";
APT::Install-Recommends "false";
Acquire::Check-Valid-Until "false";
EOF
export APT_CONFIG="$apt_dir/apt.conf"

log "reading Debian unstable's package index (private apt in $apt_dir)"
apt-get update -qq >&2

pkgs=("python$ver" "libpython$ver-dev" "python$ver-venv" "libpython$ver-testsuite")
# "Inst NAME (VERSION Debian:unstable [ARCH])" for every package of the closure
mapfile -t closure < <(apt-get install -s -qq "${pkgs[@]}" |
  awk '$1 == "Inst" { gsub(/\(/, "", $3); print $2 "=" $3 }')
[ ${#closure[@]} -gt 0 ] || {
  log "apt found no python$ver in unstable"
  exit 1
}

debs="$cache/debs/$ver"
mkdir -p "$debs"
log "downloading ${#closure[@]} packages into $debs"
# `apt-get download` writes into the current directory; as root it warns that
# the _apt sandbox user cannot write there, which is harmless.
(cd "$debs" && apt-get download -qq "${closure[@]}" >&2)

# ---- unpack and patch into ROOT.tmp, then move it into place ---------------
if ! command -v patchelf >/dev/null 2>&1; then
  log "installing patchelf (Debian's package) to point the interpreter at ROOT"
  (unset APT_CONFIG && apt-get update -qq >&2 &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends patchelf >&2)
fi
tmp="$root.tmp"
rm -rf "$tmp"
mkdir -p "$tmp"
for spec in "${closure[@]}"; do
  name=${spec%%=*}
  deb=$(find "$debs" -maxdepth 1 -name "${name}_*.deb" | sort -V | tail -n 1)
  dpkg-deb -x "$deb" "$tmp"
done

libdir="$root/usr/lib/x86_64-linux-gnu"
bin="$tmp/usr/bin/python$ver"
patchelf --set-interpreter "$libdir/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$libdir" "$bin"

for data in "$tmp/usr/lib/python$ver"/_sysconfigdata_*.py; do
  sed -i -E \
    -e "s#^( *'(WHEEL_PKG_DIR|INCLUDEPY|CONFINCLUDEPY|LIBDIR|LIBPL|BINLIBDEST|LIBDEST|DESTSHARED)': ')/usr/#\\1$root/usr/#" \
    "$data"
done
multiarch="$tmp/usr/include/x86_64-linux-gnu/python$ver/pyconfig.h"
[ -f "$multiarch" ] && cp "$multiarch" "$tmp/usr/include/python$ver/pyconfig.h"

rm -rf "$root"
mv "$tmp" "$root"
log "CPython $("$root/usr/bin/python$ver" -c 'import sys; print(sys.version.split()[0])') unpacked into $root"
