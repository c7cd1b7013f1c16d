# Sourced by the guest scripts (inside the VM, as root): load the NVMe target and host
# modules, mount configfs, and give this "client" a host NQN.
# Expects REPO (the repository checkout) and PY (its venv's python) in the environment.
set -eu
: "${REPO:?REPO must name the repository checkout}"
PY=${PY:-$REPO/.venv/bin/python}
export PYTHONPATH="$REPO" PYTHONDONTWRITEBYTECODE=1
# No udev in the guest: let device-mapper (LVM) create its /dev nodes itself.
export DM_DISABLE_UDEV=1

uptime_s() { cut -d' ' -f1 /proc/uptime; }
echo "TIME guest-start $(uptime_s)"

# nvmet must be loaded before configfs has an nvmet directory; nvme-tcp is the host side.
modprobe nvmet
modprobe nvmet-tcp
modprobe nvme-tcp
modprobe loop 2>/dev/null || true
mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config
[ -d /sys/kernel/config/nvmet/subsystems ] || { echo "RESULT modules FAIL no nvmet configfs"; exit 1; }
echo "RESULT modules ok"

HOSTNQN="nqn.2014-08.org.nvmexpress:uuid:$(cat /proc/sys/kernel/random/uuid)"
mkdir -p /etc/nvme
echo "$HOSTNQN" > /etc/nvme/hostnqn
export HOSTNQN

# An ext4 filesystem on a loop device: file carving with O_DIRECT (tmpfs has none on 6.1).
make_ext4() {  # make_ext4 MOUNTPOINT SIZE_MB
  truncate -s "${2}M" "/tmp/ext4-$$.img"
  mkfs.ext4 -q -F "/tmp/ext4-$$.img"
  mkdir -p "$1"
  mount -o loop "/tmp/ext4-$$.img" "$1"
}
