#!/usr/bin/env bash
# Builds the packages (scripts/package.sh: .deb and .rpm, lintian, rpm -qlp) and tests
# them (integration/package.rs): contents and modes, the .rpm holding what the .deb
# holds, and the .deb installed on this machine, upgraded over an edited conffile and
# purged. Run as root on Debian 12: sudo ./scripts/test-package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test-package.sh: run as root (the package is installed and purged)" >&2; exit 1; }
./scripts/package.sh
cargo test --test package -- --include-ignored
