# Guest script (inside the VM, a kernel with NVMe in-band authentication): issue 13's
# wipe / DH-HMAC-CHAP / re-export cases, with native NVMe multipath off (the RHEL 8 default),
# so every attach finds its namespace under the controller, not the subsystem.
# nvme_core must get the parameter before anything loads it.
# admin_timeout: a refused wrong secret sometimes ends only at this timeout (6.12, default 60 s).
modprobe nvme_core multipath=N admin_timeout=15
. "$REPO/tests/vm/guest_setup.sh"
echo "INFO nvme_core.multipath=$(cat /sys/module/nvme_core/parameters/multipath)"

truncate -s 512M /tmp/pv.img
pv=$(losetup -f --show /tmp/pv.img)
pvcreate -qq "$pv" && vgcreate -qq storalloc-vmtest "$pv" || { echo "RESULT lvm FAIL no VG"; exit 1; }

export PV=$pv OUT=/mnt/share
cd "$REPO"
rc=0
"$PY" tests/vm/guest_hardening.py || rc=$?
echo "TIME python-cases-end $(uptime_s)"
( . "$REPO/tests/vm/guest_hardening_e2e.sh" ) || rc=1
echo "TIME guest-end $(uptime_s)"
exit $rc
