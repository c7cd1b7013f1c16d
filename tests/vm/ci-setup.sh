#!/bin/sh
# Install what the VM tests (tests/test_vm_nvmeof.py) need; idempotent, run as root.
# Without these packages the VM tests skip with a loud message instead of running.
set -eu
PKGS="qemu-system-x86 busybox-static nvme-cli kmod cpio e2fsprogs lvm2 util-linux"
missing=
for p in $PKGS; do
  dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "ci-setup: VM test packages already installed"
  exit 0
fi
echo "ci-setup: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "ci-setup: done"
