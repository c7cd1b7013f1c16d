#!/usr/bin/env bash
# CI: install Debian's Slurm (slurmctld, slurmd, client commands) and munge, for the
# burst-buffer end-to-end test (tests/test_slurm_e2e.py). Needs root; idempotent.
set -euo pipefail
if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && command -v lua5.1 >/dev/null; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -q
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends slurmctld slurmd slurm-client munge lua5.1
# The lua burst-buffer plugin ships in Debian's slurm-wlm-basic-plugins; say so if absent.
if ! find /usr/lib -name burst_buffer_lua.so | grep -q .; then
    echo "ERROR: burst_buffer_lua.so is not in this Slurm build" >&2
    exit 1
fi
