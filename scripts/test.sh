#!/usr/bin/env bash
# The whole default test run: formatting, lints, unit and property tests, and the
# end-to-end suites with real runc, containerd and dockerd (started by the tests).
# Run as root on Debian 12: sudo ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Root-only tests are marked #[ignore = "root: ..."]: as root, CI runs them all, and one
# that cannot do its work fails instead of passing unseen.
[ "$(id -u)" = 0 ] || { echo "test.sh: run as root (the root-only tests must run)" >&2; exit 1; }
cargo test --workspace --lib --tests --examples -- --include-ignored
# The benchmarks once each, as tests (they take no harness flags).
cargo test --workspace --benches
