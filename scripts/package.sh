#!/usr/bin/env bash
# Builds mcsrun's packages from the repo in one command:
#   target/debian/mcsrun_<version>-1_amd64.deb        (cargo-deb)
#   target/generate-rpm/mcsrun-<version>-1.x86_64.rpm  (cargo-generate-rpm)
# with the same contents: /usr/bin/mcsrun and mcsctl, /etc/mcsrun/config.toml (a conffile),
# the tmpfiles.d entry for /run/mcsrun, man pages, mcsctl's shell completions and the
# SELinux file contexts. What the packages contain is declared in Cargo.toml
# ([package.metadata.deb], [package.metadata.generate-rpm]); the man pages and completions
# that can be generated are generated here (packaging/package_docs.rs).
#
# cargo-deb and cargo-generate-rpm are installed with `cargo install --locked` at pinned
# versions into a directory keyed by those versions and the toolchain
# ($MCSRUN_TOOLS_DIR, default /var/tmp/mcsrun-tools), so they are built once per machine.
# Then lintian checks the .deb and `rpm -qlp` lists the .rpm, when those tools are there
# (as root, missing ones are installed from Debian's packages).
#
# Usage: scripts/package.sh [--no-check]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1

check=1
case "${1:-}" in
  --no-check) check=0 ;;
  "") ;;
  -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "package.sh: unknown argument $1" >&2; exit 2 ;;
esac

t0=$(date +%s)
stamp() { echo "package.sh: [$(( $(date +%s) - t0 ))s] $*"; }

# --- tools ------------------------------------------------------------------
key=$( { echo "cargo-deb $CARGO_DEB_VERSION cargo-generate-rpm $CARGO_GENERATE_RPM_VERSION"; rustc -vV; } \
  | sha256sum | cut -c1-16)
tools=${MCSRUN_TOOLS_DIR:-/var/tmp/mcsrun-tools}/$key
install_tool() { # NAME VERSION
  if [ ! -x "$tools/bin/$1" ]; then
    stamp "installing $1 $2 into $tools (once per machine and toolchain)"
    cargo install --quiet --locked --root "$tools" "$1" --version "$2"
  fi
}
install_tool cargo-deb "$CARGO_DEB_VERSION"
install_tool cargo-generate-rpm "$CARGO_GENERATE_RPM_VERSION"
export PATH="$tools/bin:$PATH"

if [ "$(id -u)" = 0 ]; then
  # dpkg-shlibdeps (dpkg-dev) works out the shared-library dependencies of the .deb.
  want=(dpkg-dev)
  [ "$check" = 1 ] && want+=(lintian rpm)
  missing=()
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    stamp "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
      || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
  fi
fi

# --- build ------------------------------------------------------------------
stamp "cargo build --profile dist (mcsrun, mcsctl: release without symbols)"
cargo build --profile dist --quiet --bin mcsrun --bin mcsctl

stamp "man pages and completions"
docs=$repo/target/package-docs
rm -rf "$docs"
cargo run --quiet --example package-docs -- "$docs"
cp packaging/man/mcsrun.8 "$docs/man/man8/mcsrun.8"
# -n: no name or time stamp in the gzip header, so the same input gives the same package.
gzip -9nf "$docs"/man/man*/*.[0-9]

# Every file's time in the packages is the last commit's (reproducible builds).
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH

stamp "cargo deb"
rm -rf target/debian target/generate-rpm
mkdir -p target/debian target/generate-rpm
cargo deb --no-build --profile dist --strip --no-dbgsym --output target/debian/ >/dev/null
deb=$(ls target/debian/*.deb)
# cargo-deb writes no md5sums; debsums and dpkg --verify use them.
unpacked=target/debian/unpacked
rm -rf "$unpacked"
dpkg-deb -R "$deb" "$unpacked"
(cd "$unpacked" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
  | xargs -0 md5sum > DEBIAN/md5sums)
chmod 0644 "$unpacked/DEBIAN/md5sums"
dpkg-deb --root-owner-group -Zxz -b "$unpacked" "$deb" >/dev/null
rm -rf "$unpacked"

stamp "cargo generate-rpm"
cargo generate-rpm --profile dist --output target/generate-rpm/
rpm=$(ls target/generate-rpm/*.rpm)

echo "package.sh: $deb ($(stat -c %s "$deb") bytes)"
echo "package.sh: $rpm ($(stat -c %s "$rpm") bytes)"

if [ "$check" = 1 ]; then
  if command -v lintian >/dev/null; then
    stamp "lintian"
    # Tags overridden with their reasons: packaging/debian/lintian-overrides.
    lintian --display-info --pedantic --tag-display-limit 0 --show-overrides "$deb" 2>&1 | grep -v '^running with root privileges' || true
  fi
  if command -v rpm >/dev/null; then
    stamp "rpm -qlp"
    rpm -qlp "$rpm"
  fi
fi
stamp "done"
