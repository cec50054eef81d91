#!/usr/bin/env bash
# The whole default test run: formatting, lints, unit and property tests, and the
# end-to-end suites with real runc, containerd and dockerd (started by the tests).
# Run as root on Debian 12: sudo ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --all-targets
