#!/usr/bin/env bash
# Install the Debian packages fwnet needs, only those missing. Idempotent and
# quiet when everything is present. Usage: ci/install-deps.sh [build|all]
#   build: what the host build, the EFI build and the unit tests need
#   all:   also QEMU, OVMF and capture tools (the harness and integration runs)
set -euo pipefail
set_name=${1:-all}
build_pkgs=(gcc make cmake pkg-config gnu-efi libcmocka-dev libslirp-dev libpcap-dev python3 python3-pytest)
run_pkgs=(qemu-system-x86 qemu-utils ovmf mtools dosfstools
          tcpdump python3-matplotlib)
pkgs=("${build_pkgs[@]}")
[ "$set_name" = all ] && pkgs+=("${run_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

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
