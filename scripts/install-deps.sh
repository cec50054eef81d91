#!/usr/bin/env bash
# Installs the Debian packages mcsrun's demo and tests need, skipping what is present.
#   runc, containerd, docker.io: the runtime and the engines the tests drive
#   busybox-static: the rootfs of every test container (no image registry needed)
#   jq: examples/make-bundle.sh; time: GNU time, for the peak-RSS benchmark
#   postgresql-client: psql, the engines suite's SQL query to the PostgreSQL image
# Rust itself (cargo, stable) is expected to be installed already (rustup).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "install-deps.sh: run as root" >&2; exit 1; }
want=(runc containerd docker.io busybox-static iproute2 jq time postgresql-client)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "install-deps.sh: cargo not found; install a stable Rust toolchain with rustup" >&2; exit 1; }
