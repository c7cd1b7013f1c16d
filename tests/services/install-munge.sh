#!/bin/sh
# Install MUNGE (Debian package `munge`) for the site-configuration tests, which start a
# private munged. Idempotent; needs root. Without it those tests skip with a clear reason.
set -eu
if command -v munged >/dev/null 2>&1 && command -v unmunge >/dev/null 2>&1; then
  echo "install-munge: munge already installed"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends munge >/dev/null
echo "install-munge: done"
