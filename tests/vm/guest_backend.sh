# Guest script (inside the VM): drive storalloc.server.backends + storalloc.client.attach directly against
# the real kernel: file carving on tmpfs and on ext4, and LVM carving on a loop device.
# Prints RESULT lines that tests/test_vm_nvmeof.py checks.
. "$REPO/tests/vm/guest_setup.sh"

make_ext4 /mnt/ext4 256
mkdir -p /tmp/tmpfs-disk  # /tmp is tmpfs in the guest

vg_ready=0
if command -v vgcreate >/dev/null 2>&1; then
  truncate -s 256M /tmp/pv.img
  pv=$(losetup -f --show /tmp/pv.img)
  if pvcreate -qq "$pv" && vgcreate -qq storalloc-vmtest "$pv"; then vg_ready=1; fi
fi
echo "VG-READY $vg_ready"

cd "$REPO"
rc=0
"$PY" tests/vm/guest_backend.py --vg-ready "$vg_ready" || rc=$?
echo "TIME guest-end $(uptime_s)"
exit $rc
