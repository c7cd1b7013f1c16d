# Guest script (inside the VM): the three real scripts end to end on a real NVMe/TCP target.
# orchestrator.py and server.py (real mode, configfs driver, file carving on ext4) run in the
# background; client.py asks for 0.1 GB with --attach, we write/read a pattern through the
# device, check it in the backing file, release the job, and check everything is gone.
# Prints RESULT lines that tests/test_vm_nvmeof.py checks; logs go to /mnt/share/*.log.
. "$REPO/tests/vm/guest_setup.sh"

W=/tmp/e2e
OUT=/mnt/share
CFS=/sys/kernel/config/nvmet
mkdir -p "$W"
make_ext4 /mnt/ext4 256

cat > "$W/orchestrator.yml" <<EOF
client_endpoint: tcp://127.0.0.1:35000
server_endpoint: tcp://127.0.0.1:35001
sched_strategy: worst_case
heartbeat_interval: 2
heartbeat_timeout: 30
EOF
cat > "$W/server.yml" <<EOF
orchestrator: tcp://127.0.0.1:35001
driver: configfs
allow_any_host: false
nqn_prefix: nqn.2026-11.io.storalloc
heartbeat_interval: 2
command_timeout: 60
EOF
cat > "$W/system.yml" <<EOF
hostname: vmnode
ipv4: 127.0.0.1
network: loopback
network_bw: 1.0
transport: {trtype: tcp, trsvcid: 4420, adrfam: ipv4}
disks:
  - model: ext4 on loop
    capacity: 0.2
    write_bw: 1.0
    read_bw: 1.0
    path: /dev/loop0
    carving: file
    mountpoint: /mnt/ext4
EOF
cat > "$W/client.yml" <<EOF
orchestrator: tcp://127.0.0.1:35000
timeout: 60
hostnqn_file: /etc/nvme/hostnqn
EOF

cleanup() {
  kill "$SRV" "$ORCH" 2>/dev/null || true
  wait "$SRV" "$ORCH" 2>/dev/null || true
}
cd "$REPO"
"$PY" orchestrator.py -c "$W/orchestrator.yml" -v > "$OUT/orchestrator.log" 2>&1 &
ORCH=$!
"$PY" server.py -c "$W/server.yml" -s "$W/system.yml" -v > "$OUT/server.log" 2>&1 &
SRV=$!
trap cleanup EXIT

# Wait (bounded) for the server to register; Python starts slowly under emulation.
i=0
until grep -qi "registered" "$OUT/orchestrator.log" "$OUT/server.log" 2>/dev/null; do
  i=$((i + 1))
  if [ $i -gt 180 ] || ! kill -0 "$SRV" 2>/dev/null || ! kill -0 "$ORCH" 2>/dev/null; then
    echo "RESULT e2e-registered FAIL (see orchestrator.log / server.log)"; exit 1
  fi
  sleep 0.5
done
echo "RESULT e2e-registered ok"
echo "TIME registered $(uptime_s)"

rc=0
"$PY" client.py -c "$W/client.yml" -s 0.1 -t 10 --attach --hostnqn "$HOSTNQN" -v \
  > "$OUT/client.log" 2>&1 || rc=$?
cat "$OUT/client.log"
line=$(grep -o "job [0-9]* attached as /dev/nvme[0-9]*n[0-9]*" "$OUT/client.log" | head -1 || true)
JOB=$(echo "$line" | awk '{print $2}')
DEV=$(echo "$line" | awk '{print $5}')
if [ "$rc" -ne 0 ] || [ -z "$DEV" ] || [ ! -b "$DEV" ]; then
  echo "RESULT e2e-attach FAIL client exit $rc, line '$line'"; exit 1
fi
echo "RESULT e2e-attach ok job $JOB as $DEV"
nvme list -o json > "$OUT/nvme-list-attached.json" 2>&1 || true
echo "TIME attached $(uptime_s)"

SUB=$(ls -d "$CFS"/subsystems/nqn.2026-11.io.storalloc:vmnode:* | head -1)
BACKING=$(cat "$SUB/namespaces/1/device_path")
case $BACKING in
  /mnt/ext4/storalloc/*.img) ;;
  *) echo "RESULT e2e-data FAIL unexpected backing '$BACKING'"; exit 1 ;;
esac
[ -L "$SUB/allowed_hosts/$HOSTNQN" ] && [ "$(cat "$SUB/attr_allow_any_host")" = 0 ] || {
  echo "RESULT e2e-data FAIL export not restricted to $HOSTNQN"; exit 1; }
head -c 1048576 /dev/urandom > "$W/pattern"
dd if="$W/pattern" of="$DEV" bs=1M oflag=direct conv=fsync status=none
if dd if="$DEV" bs=1M count=1 iflag=direct status=none | cmp -s - "$W/pattern" &&
   head -c 1048576 "$BACKING" | cmp -s - "$W/pattern"; then
  echo "RESULT e2e-data ok"
else
  echo "RESULT e2e-data FAIL pattern not read back from $DEV / $BACKING"; exit 1
fi

rc=0
"$PY" client.py -c "$W/client.yml" --release "$JOB" -v > "$OUT/release.log" 2>&1 || rc=$?
cat "$OUT/release.log"
[ "$rc" -eq 0 ] || { echo "RESULT e2e-release FAIL client exit $rc"; exit 1; }
echo "RESULT e2e-release ok"

# The server tears down when the orchestrator tells it; wait (bounded) for that.
i=0
while [ -e "$SUB" ] || [ -e "$BACKING" ] || [ -e "$DEV" ]; do
  i=$((i + 1))
  if [ $i -gt 120 ]; then
    echo "RESULT e2e-teardown FAIL left: $(ls -d "$SUB" "$BACKING" "$DEV" 2>/dev/null)"; exit 1
  fi
  sleep 0.5
done
echo "RESULT e2e-teardown ok"
echo "TIME guest-end $(uptime_s)"
