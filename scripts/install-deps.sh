#!/usr/bin/env bash
# Installs everything Sluice needs to build, test and fuzz, from Debian 12's packages.
#
# Idempotent and non-interactive: when every package is already installed it only checks
# (dpkg-query) and returns in well under a second; otherwise it runs `apt-get update` once and
# installs just the missing packages, without recommends.
#
# Usage (as root, or with sudo available): bash scripts/install-deps.sh
# Env: SLUICE_EXTRA_PACKAGES  more packages to install, space separated.
set -euo pipefail

PACKAGES=(
  # build
  cmake ninja-build g++ pkg-config
  # lwIP is built from Debian's source package (scripts/fetch-lwip.sh); dpkg-source unpacks it
  dpkg-dev
  # libraries
  libsodium-dev libb2-dev libspdlog-dev catch2
  # fuzzing (libFuzzer, with clang's sanitizer runtimes)
  clang-14 libfuzzer-14-dev libclang-rt-14-dev
  # integration tests, demo and benchmarks: the reference peer and its tools, traffic, captures
  wireguard-tools wireguard-go iperf3 tshark dnsperf
  # DNS tests and benchmark: real resolvers on the peer's side, and dig
  unbound dnsmasq-base bind9-dnsutils
  iproute2 iputils-ping procps jq python3-minimal
)
# shellcheck disable=SC2206  # word splitting intended
PACKAGES+=(${SLUICE_EXTRA_PACKAGES:-})

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ $status == installed ]] || missing+=("$p")
done

# Idempotent: after the first run it only prints where the sources are.
fetch_lwip() { bash "$(dirname "${BASH_SOURCE[0]}")/fetch-lwip.sh" >/dev/null; }

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  fetch_lwip
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || {
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  }
  SUDO=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer "no" up front so nothing blocks.
echo 'wireshark-common wireshark-common/install-setuid boolean false' | "${SUDO[@]}" debconf-set-selections
APT_OPTS=(-o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y -q --no-install-recommends "${missing[@]}"
fetch_lwip
echo "install-deps: done"
