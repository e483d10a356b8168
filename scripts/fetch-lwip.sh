#!/usr/bin/env bash
# Fetches Debian's `lwip` source package and unpacks it (Debian's patches applied) into a cache
# outside git's tracking, for CMake to build with our own ipstack/lwipopts.h. Prints the
# unpacked source path on stdout; everything else goes to stderr.
#
# Idempotent: once the tree is there it only prints the path. Otherwise it
#   1. derives a deb-src entry from the machine's own Debian apt source (deb822
#      /etc/apt/sources.list.d/debian.sources, or one-line /etc/apt/sources.list), copying its
#      URIs, Suites, Components and Signed-By, so no mirror is named in this repository;
#   2. runs `apt-get update` if apt does not know the source package yet;
#   3. installs dpkg-dev if missing (dpkg-source unpacks the package) and runs
#      `apt-get source lwip`.
#
# Usage (as root, or with sudo available): bash scripts/fetch-lwip.sh
# Env: SLUICE_DEPS_DIR  cache directory (default: .deps at the top of the repository); the
#                       tree lands in $SLUICE_DEPS_DIR/lwip, the CMake default for
#                       SLUICE_LWIP_SOURCE_DIR.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deps=${SLUICE_DEPS_DIR:-$repo/.deps}
dest=$deps/lwip
marker=$dest/.sluice-lwip-version
log() { echo "fetch-lwip: $*" >&2; }

if [[ -f $marker && -f $dest/src/core/tcp.c ]]; then
  log "lwip $(cat "$marker") already in $dest"
  echo "$dest"
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || {
    log "need root (or sudo) to add a deb-src entry and install dpkg-dev"
    exit 1
  }
  SUDO=(sudo)
fi
APT_OPTS=(-o DPkg::Lock::Timeout=300)
apt_get() { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" "$@"; }

# deb-src stanzas mirroring every `deb` stanza of a deb822 file (comments dropped, fields kept).
deb822_to_src() {
  awk '
    function flush() {
      if (is_deb && uris != "")
        printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n%s\n", uris, suites, comps,
               (signed != "" ? "Signed-By: " signed "\n" : "")
      is_deb = 0; uris = suites = comps = signed = ""
    }
    /^[ \t]*#/ { next }
    /^[ \t]*$/ { flush(); next }
    /^Types:/ { is_deb = ($0 ~ /[ \t]deb([ \t]|$)/) }
    /^URIs:/ { sub(/^URIs:[ \t]*/, ""); uris = $0 }
    /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
    /^Components:/ { sub(/^Components:[ \t]*/, ""); comps = $0 }
    /^Signed-By:/ { sub(/^Signed-By:[ \t]*/, ""); signed = $0 }
    END { flush() }
  ' "$1"
}

# deb-src lines mirroring the `deb` lines of a one-line-style sources.list.
list_to_src() { sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$1"; }

ensure_deb_src() {
  local src_file
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    src_file=/etc/apt/sources.list.d/sluice-deb-src.sources
    deb822_to_src /etc/apt/sources.list.d/debian.sources >"$deps/deb-src.new"
  elif [[ -f /etc/apt/sources.list ]] && grep -q '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list; then
    src_file=/etc/apt/sources.list.d/sluice-deb-src.list
    list_to_src /etc/apt/sources.list >"$deps/deb-src.new"
  else
    log "no Debian apt source found (/etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list)"
    exit 1
  fi
  if [[ ! -s $deps/deb-src.new ]]; then
    log "the apt source file has no 'deb' entry to derive a deb-src entry from"
    exit 1
  fi
  if ! cmp -s "$deps/deb-src.new" "$src_file" 2>/dev/null; then
    log "writing $src_file"
    "${SUDO[@]}" cp "$deps/deb-src.new" "$src_file"
  fi
  rm -f "$deps/deb-src.new"
}

mkdir -p "$deps"
if ! apt-cache showsrc lwip 2>/dev/null | grep -q '^Package: lwip'; then
  ensure_deb_src
  log "apt-get update"
  apt_get update -q >&2
  apt-cache showsrc lwip 2>/dev/null | grep -q '^Package: lwip' || {
    log "apt still knows no source package 'lwip' after adding the deb-src entry"
    exit 1
  }
fi

if ! command -v dpkg-source >/dev/null; then
  log "installing dpkg-dev (for dpkg-source)"
  apt_get install -y -q --no-install-recommends dpkg-dev >&2
fi

# Download and unpack in a scratch directory, then move the tree into place in one step, so an
# interrupted run never leaves a half-unpacked $dest that looks complete.
work=$(mktemp -d "$deps/lwip-fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "apt-get source lwip (into $work)"
# apt downloads as root when the _apt user cannot write the directory; that warning is harmless.
(cd "$work" && apt-get source -q lwip >&2)
tree=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'lwip-*' | head -n 1)
if [[ -z $tree || ! -f $tree/src/core/tcp.c ]]; then
  log "apt-get source did not produce an lwip tree with src/core/tcp.c in $work"
  exit 1
fi
version=$(sed -n 's/^Version: //p' "$work"/lwip_*.dsc | head -n 1)
echo "${version:-unknown}" >"$tree/.sluice-lwip-version"
rm -rf "$dest"
mv "$tree" "$dest"
log "lwip $version unpacked in $dest"
echo "$dest"
