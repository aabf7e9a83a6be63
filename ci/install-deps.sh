#!/usr/bin/env bash
# Install the Debian packages fwnet needs, only those missing. Idempotent and
# quiet when everything is present. Usage: ci/install-deps.sh [build|all|firmware|fuzz]
#   build: what the host build, the EFI build and the unit tests need
#   all:   also QEMU, OVMF and capture tools (the harness and integration runs)
#   firmware: build's, plus what `fwnet firmware build` needs to build OVMF from
#             Debian's edk2 source (only then: `./fwnet test` does not install them)
#   fuzz:     build's, plus clang and its runtimes for ci/fuzz.sh (libFuzzer, ASan, UBSan)
set -euo pipefail
set_name=${1:-all}
build_pkgs=(gcc make cmake pkg-config gnu-efi libcmocka-dev libslirp-dev libpcap-dev python3 python3-pytest
            dpkg-dev xz-utils)
run_pkgs=(qemu-system-x86 qemu-utils ovmf ovmf-ia32 ipxe-qemu yamllint mtools dosfstools
          tcpdump tshark python3-scapy python3-matplotlib dnsmasq-base)
pkgs=("${build_pkgs[@]}")
[ "$set_name" = all ] && pkgs+=("${run_pkgs[@]}")
firmware_pkgs=(nasm acpica-tools uuid-dev patch)
[ "$set_name" = firmware ] && pkgs+=("${firmware_pkgs[@]}")
fuzz_pkgs=(clang libclang-rt-14-dev)  # ci/fuzz.sh: libFuzzer, ASan, UBSan
[ "$set_name" = fuzz ] && pkgs+=("${fuzz_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
root=$(cd "$(dirname "$0")/.." && pwd)
# lwIP for rump-hw: Debian's source package, unpacked (with Debian's own
# patches) into build/deps and compiled unmodified. Needs a deb-src entry.
fetch_lwip() {
  [ "$set_name" = firmware ] && return 0  # fwbuild.py fetches edk2's source itself
  [ "$set_name" = fuzz ] && return 0      # the fuzz targets link no lwIP
  local dest=$root/build/deps/lwip
  [ -f "$dest/src/core/tcp.c" ] && return 0
  if [ "$(id -u)" -ne 0 ] && ! apt-get source --print-uris lwip >/dev/null 2>&1; then
    echo "fwnet: lwIP source needed: run as root (adds a deb-src entry), or add one and run: apt-get source lwip" >&2
    exit 1
  fi
  if ! apt-get source --print-uris lwip >/dev/null 2>&1; then
    local list=/etc/apt/sources.list.d/fwnet-deb-src.sources
    local suite
    suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$suite" >"$list"
    apt-get update -qq >>/tmp/fwnet-apt.log 2>&1 || true
  fi
  local tmp
  tmp=$(mktemp -d "$root/build/deps.XXXXXX" 2>/dev/null || { mkdir -p "$root/build" && mktemp -d "$root/build/deps.XXXXXX"; })
  (cd "$tmp" && apt-get source -qq --download-only lwip >>/tmp/fwnet-apt.log 2>&1 &&
     dpkg-source -x --no-check ./lwip_*.dsc lwip >>/tmp/fwnet-apt.log 2>&1) || {
    echo "fwnet: could not fetch Debian's lwip source package; see /tmp/fwnet-apt.log" >&2; rm -rf "$tmp"; exit 1; }
  mkdir -p "$root/build/deps"
  rm -rf "$dest"
  mv "$tmp/lwip" "$dest"
  cp "$tmp"/lwip_*.dsc "$dest/debian/fwnet-fetched.dsc"
  rm -rf "$tmp"
  echo "fwnet: lwIP source: $(sed -n 's/^Version: //p' "$dest/debian/fwnet-fetched.dsc") in $dest" >&2
}

if [ ${#missing[@]} -eq 0 ]; then fetch_lwip; exit 0; fi

if [ "$(id -u)" -ne 0 ]; then
  echo "fwnet: missing Debian packages: ${missing[*]}" >&2
  echo "fwnet: run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "fwnet: installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# apt-get update only when the package lists are missing or cannot find a package
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/fwnet-apt.log 2>&1; then
  apt-get update -qq >>/tmp/fwnet-apt.log 2>&1 || true
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/fwnet-apt.log 2>&1 || {
    echo "fwnet: apt-get install failed; see /tmp/fwnet-apt.log" >&2; tail -20 /tmp/fwnet-apt.log >&2; exit 1; }
fi
fetch_lwip
