#!/bin/sh
# Boot a throwaway QEMU guest that runs one script as root, for tests needing a real kernel
# (nvmet, nvme-tcp, configfs), which containers and CI machines usually do not have.
#
#   tests/vm/boot.sh SHARE_DIR GUEST_SCRIPT
#
# The guest runs Debian's own kernel (downloaded with apt-get download, extracted with
# dpkg-deb -x; /boot and the host's initramfs are left alone) and a small busybox initramfs
# that mounts:
#   /            the host's root over 9p, read-only, with a tmpfs overlay (so the host's
#                python, venv and repository are there, and the guest may write anywhere)
#   /lib/modules the extracted kernel's modules
#   /mnt/share   SHARE_DIR, read-write
# then runs `sh /mnt/share/GUEST_SCRIPT` (GUEST_SCRIPT is relative to SHARE_DIR), writes its
# output to SHARE_DIR/guest.log and its exit code to SHARE_DIR/guest.rc, and powers off.
# The console goes to SHARE_DIR/console.log. The guest has no network card: loopback only.
#
# Exit code: the guest script's; 125 if the guest did not finish; 127 if tools are missing
# (run tests/vm/ci-setup.sh as root).
#
# Environment: STORALLOC_VM_CACHE (kernel/initramfs cache, default /var/cache/storalloc-vm),
# STORALLOC_VM_TIMEOUT (seconds, default 600), STORALLOC_VM_MEM (MiB, default 1024),
# STORALLOC_VM_ACCEL (default tcg: KVM is often unusable for a stock kernel in sandboxes),
# STORALLOC_VM_KERNEL (another kernel package than linux-image-amd64's, see below),
# STORALLOC_VM_EXTRA (one more host directory to see in the guest, e.g. a virtualenv under
# /tmp, which the guest's own tmpfs /tmp would hide).
#
# After the script, the guest's kernel log goes to SHARE_DIR/kernel.log and `nvme list -o json`
# to SHARE_DIR/nvme-list.json, as evidence of what the kernel did.
set -eu

[ $# -eq 2 ] || { echo "usage: $0 SHARE_DIR GUEST_SCRIPT" >&2; exit 2; }
SHARE=$(realpath "$1")
SCRIPT=$2
# The repository holding this script. The guest mounts tmpfs on /tmp and /run, which would
# hide a checkout living there (CI clones anywhere), so it is also shared on its own.
REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${STORALLOC_VM_CACHE:-/var/cache/storalloc-vm}
# STORALLOC_VM_KERNEL names another kernel package (e.g. a backport with NVMe in-band
# authentication, which bookworm's 6.1 lacks); each kernel gets its own cache folder.
KPKG=${STORALLOC_VM_KERNEL:-}
[ -z "$KPKG" ] || CACHE="$CACHE/$KPKG"
[ -f "$SHARE/$SCRIPT" ] || { echo "$0: no guest script $SHARE/$SCRIPT" >&2; exit 2; }
EXTRA=
if [ -n "${STORALLOC_VM_EXTRA:-}" ]; then
  EXTRA=$(realpath "$STORALLOC_VM_EXTRA")
  extra_fs="-virtfs local,path=$EXTRA,mount_tag=extra,security_model=none,readonly=on,multidevs=remap"
fi

for tool in qemu-system-x86_64 apt-get dpkg-deb depmod modprobe cpio gzip; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "$0: $tool is missing: run tests/vm/ci-setup.sh as root" >&2; exit 127; }
done
BUSYBOX=$(command -v busybox || true)
# The initramfs has no libc, so busybox must be static (package busybox-static).
if [ -n "$BUSYBOX" ] && ldd "$BUSYBOX" >/dev/null 2>&1; then BUSYBOX=; fi
[ -n "$BUSYBOX" ] || { echo "$0: static busybox missing: run tests/vm/ci-setup.sh" >&2; exit 127; }

mkdir -p "$CACHE"
# One build at a time; concurrent boots wait for the cache rather than racing on it.
exec 9>"$CACHE/.lock"
flock 9 2>/dev/null || true

# 1) The kernel: the version linux-image-amd64 points at, extracted once into the cache.
if [ ! -f "$CACHE/vmlinuz" ]; then
  # A metapackage (linux-image-amd64, linux-image-6.12-amd64) names the current image.
  meta=${KPKG:-linux-image-amd64}
  pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [ -n "$pkg" ] || pkg=$KPKG
  [ -n "$pkg" ] || { echo "$0: cannot resolve $meta (apt-get update?)" >&2; exit 127; }
  tmp=$(mktemp -d "$CACHE/kernel.XXXXXX")
  (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" && dpkg-deb -x ./*.deb root && rm -f ./*.deb)
  kver=$(ls "$tmp/root/lib/modules")
  depmod -b "$tmp/root" "$kver"
  rm -rf "$CACHE/kroot"
  mv "$tmp/root" "$CACHE/kroot"
  cp "$CACHE/kroot/boot/vmlinuz-$kver" "$CACHE/vmlinuz.tmp" && mv "$CACHE/vmlinuz.tmp" "$CACHE/vmlinuz"
  rm -rf "$tmp" "$CACHE/initramfs.gz"
fi
KVER=$(ls "$CACHE/kroot/lib/modules")

# 2) The initramfs: busybox, the modules needed to reach the host's root, and our init.
if [ ! -f "$CACHE/initramfs.gz" ]; then
  ir=$(mktemp -d)
  mkdir -p "$ir/bin" "$ir/proc" "$ir/sys" "$ir/dev" "$ir/host" "$ir/rw" "$ir/root"
  cp "$BUSYBOX" "$ir/bin/busybox"
  for applet in sh mount mkdir modprobe switch_root; do ln -s busybox "$ir/bin/$applet"; done
  for mod in virtio_pci 9pnet_virtio 9p overlay; do
    modprobe -d "$CACHE/kroot" -S "$KVER" --show-depends "$mod" | awk '$1 == "insmod" {print $2}' |
    while read -r ko; do
      rel=${ko#"$CACHE/kroot"}
      mkdir -p "$ir$(dirname "$rel")"
      cp "$ko" "$ir$rel"
    done
  done
  cp "$CACHE/kroot/lib/modules/$KVER/modules.order" "$CACHE/kroot/lib/modules/$KVER/modules.builtin" \
     "$CACHE/kroot/lib/modules/$KVER/modules.builtin.modinfo" \
     "$ir/lib/modules/$KVER/" 2>/dev/null || true
  depmod -b "$ir" "$KVER"
  cat > "$ir/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in virtio_pci 9pnet_virtio 9p overlay; do modprobe "$m"; done
opts=trans=virtio,version=9p2000.L,msize=512000,cache=loose
mount -t 9p -o "$opts,ro" hostroot /host
mount -t tmpfs -o size=512m tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /root
mkdir -p /root/lib/modules
mount -t 9p -o "$opts,ro" modules /root/lib/modules
mkdir -p /root/mnt/share
mount -t 9p -o "trans=virtio,version=9p2000.L,msize=512000" share /root/mnt/share
for fs in proc sys dev; do mount --move "/$fs" "/root/$fs"; done
exec switch_root /root /bin/sh /mnt/share/.storalloc-vm-stage2
INIT
  chmod +x "$ir/init"
  (cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1) > "$CACHE/initramfs.tmp"
  mv "$CACHE/initramfs.tmp" "$CACHE/initramfs.gz"
  rm -rf "$ir"
fi
flock -u 9 2>/dev/null || true

# 3) Stage 2 runs inside the switched root: basic mounts, then the guest script.
cat > "$SHARE/.storalloc-vm-stage2" <<STAGE2
#!/bin/sh
export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
case "$REPO" in
  /tmp/*|/run/*) mkdir -p "$REPO"
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro repo "$REPO" ;;
esac
if [ -n "$EXTRA" ]; then
  mkdir -p "$EXTRA" && mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro extra "$EXTRA"
fi
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
busybox ip link set lo up
cd /mnt/share
sh "/mnt/share/$SCRIPT" > /mnt/share/guest.log 2>&1
echo \$? > /mnt/share/guest.rc
dmesg > /mnt/share/kernel.log 2>&1
nvme list -o json > /mnt/share/nvme-list.json 2>&1
sync
busybox poweroff -f
STAGE2

rm -f "$SHARE/guest.rc" "$SHARE/guest.log" "$SHARE/kernel.log" "$SHARE/nvme-list.json"
accel=${STORALLOC_VM_ACCEL:-tcg}
# shellcheck disable=SC2086
timeout "${STORALLOC_VM_TIMEOUT:-600}" qemu-system-x86_64 -accel "$accel" \
  -m "${STORALLOC_VM_MEM:-1024}" -smp 1 -nographic -no-reboot -nic none \
  -kernel "$CACHE/vmlinuz" -initrd "$CACHE/initramfs.gz" \
  -append "console=ttyS0 quiet panic=-1" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=$CACHE/kroot/lib/modules,mount_tag=modules,security_model=none,readonly=on" \
  -virtfs "local,path=$SHARE,mount_tag=share,security_model=none" \
  -virtfs "local,path=$REPO,mount_tag=repo,security_model=none,readonly=on,multidevs=remap" \
  ${extra_fs:-} \
  > "$SHARE/console.log" 2>&1 < /dev/null || true

[ -f "$SHARE/guest.rc" ] || { echo "$0: the guest did not finish; see $SHARE/console.log" >&2; exit 125; }
exit "$(cat "$SHARE/guest.rc")"
