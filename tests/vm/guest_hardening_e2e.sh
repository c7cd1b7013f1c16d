# Sourced by guest_hardening.sh (inside the VM): the three real scripts with issue 13's
# settings (LVM, DH-HMAC-CHAP, record). client.py --attach uses the secret from its grant;
# then the server dies and the kernel loses its target (as in a reboot), the client stays
# attached; the restarted server re-creates the export from its record when the orchestrator
# holds it, the client's kernel reconnects on its own, and the data is read back.
W=/tmp/e2e
CFS=/sys/kernel/config/nvmet
mkdir -p "$W"
cat > "$W/orchestrator.yml" <<EOF2
client_endpoint: tcp://127.0.0.1:35000
server_endpoint: tcp://127.0.0.1:35001
sched_strategy: worst_case
heartbeat_interval: 2
heartbeat_timeout: 120
EOF2
cat > "$W/server.yml" <<EOF2
orchestrator: tcp://127.0.0.1:35001
driver: configfs
heartbeat_interval: 2
command_timeout: 120
state_dir: $W/state
dhchap: true
ctrl_loss_tmo: 300
lvm_devices: true
EOF2
cat > "$W/system.yml" <<EOF2
hostname: vmnode
ipv4: 127.0.0.1
network: loopback
network_bw: 1.0
transport: {trtype: tcp, trsvcid: 4420, adrfam: ipv4}
disks:
  - {model: loop, capacity: 0.2, write_bw: 1.0, read_bw: 1.0, path: $PV, vg: storalloc-vmtest}
EOF2
printf 'orchestrator: tcp://127.0.0.1:35000\ntimeout: 120\nhostnqn_file: /etc/nvme/hostnqn\n' > "$W/client.yml"

wait_for() {  # wait_for FILE TEXT: bounded wait for a line in a log
  i=0
  until grep -q "$2" "$1" 2>/dev/null; do
    i=$((i + 1)); [ $i -le 360 ] || return 1; sleep 0.5
  done
}
e2e_cleanup() { kill "$SRV" "$ORCH" 2>/dev/null || true; wait 2>/dev/null || true; }
trap e2e_cleanup EXIT

"$PY" orchestrator.py -c "$W/orchestrator.yml" -v > "$OUT/orchestrator.log" 2>&1 &
ORCH=$!
"$PY" server.py -c "$W/server.yml" -s "$W/system.yml" -v > "$OUT/server.log" 2>&1 &
SRV=$!
wait_for "$OUT/orchestrator.log" "registered" || { echo "RESULT e2e-reboot FAIL no registration"; exit 1; }

"$PY" client.py -c "$W/client.yml" -s 0.05 -t 30 --attach -v > "$OUT/client.log" 2>&1 || true
cat "$OUT/client.log"
DEV=$(grep -o "attached as /dev/nvme[0-9]*n[0-9]*" "$OUT/client.log" | awk '{print $3}')
JOB=$(grep -o "job [0-9]* attached" "$OUT/client.log" | awk '{print $2}')
[ -n "$DEV" ] && [ -b "$DEV" ] || { echo "RESULT e2e-reboot FAIL attach"; exit 1; }
grep -q "'dhchap_secret': 'DHHC-1:00:" "$OUT/client.log" || { echo "RESULT e2e-reboot FAIL no secret in grant"; exit 1; }
nvme list -o json > "$OUT/nvme-list-e2e-attached.json" 2>&1 || true
head -c 1048576 /dev/urandom > "$W/pattern"
dd if="$W/pattern" of="$DEV" bs=1M seek=2 oflag=direct conv=fsync status=none

# The storage node "reboots": its server dies and the kernel target is emptied.
kill "$SRV"; wait "$SRV" 2>/dev/null || true
"$PY" - <<'PY'
from storalloc.server.backends.configfs import ConfigfsDriver
from storalloc.server.backends.target import TargetPort
d = ConfigfsDriver(TargetPort())
for nqn in d.list_nqns():
    d.unexport(nqn)
PY
echo "INFO e2e target emptied: subsystems=[$(ls $CFS/subsystems)] hosts=[$(ls $CFS/hosts)]"
"$PY" server.py -c "$W/server.yml" -s "$W/system.yml" -v > "$OUT/server-restarted.log" 2>&1 &
SRV=$!
wait_for "$OUT/server-restarted.log" "re-exported" || { echo "RESULT e2e-reboot FAIL no re-export"; exit 1; }
grep "re-exported" "$OUT/server-restarted.log"
# The client's kernel reconnects by itself (nvme-tcp retries every reconnect_delay, 10 s).
i=0
until dd if="$DEV" bs=1M skip=2 count=1 iflag=direct status=none 2>/dev/null | cmp -s - "$W/pattern"; do
  i=$((i + 1)); [ $i -le 60 ] || { echo "RESULT e2e-reboot FAIL data not read back"; exit 1; }
  sleep 1
done
echo "INFO e2e the attached client read its data back through $DEV after the restart"
"$PY" client.py -c "$W/client.yml" --release "$JOB" > "$OUT/release.log" 2>&1 || { echo "RESULT e2e-reboot FAIL release"; exit 1; }
wait_for "$OUT/server-restarted.log" "wiped" || { echo "RESULT e2e-reboot FAIL no wipe"; exit 1; }
echo "RESULT e2e-reboot ok"
