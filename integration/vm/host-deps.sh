#!/bin/bash
# Installs what build-image.sh and run.sh need on a Debian 12 host:
# qemu-system-x86 (matching the installed qemu-utils), mmdebstrap, e2fsprogs,
# zstd, attr. Idempotent: exits quickly when everything is present.
#
# When qemu-utils comes from bookworm-backports it Breaks bookworm's
# qemu-system-common, so qemu-system-x86 must come from backports too. That is
# done with a private apt source list under $MCSRUN_VM_DIR/apt, leaving the
# host's own apt sources untouched.
set -euo pipefail

MCSRUN_VM_DIR=${MCSRUN_VM_DIR:-/var/tmp/mcsrun-vm}
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v mke2fs >/dev/null || need+=(e2fsprogs)
command -v zstd >/dev/null || need+=(zstd)
command -v setfattr >/dev/null || need+=(attr)
if [ ${#need[@]} -eq 0 ]; then
  echo "host-deps: all present ($(qemu-system-x86_64 --version | head -1))"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "host-deps: missing ${need[*]}; run as root to install them" >&2
  exit 1
fi

apt_dir=$MCSRUN_VM_DIR/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"

# Reuse the mirrors this host's apt already points at.
first_uri() { # $1 = file, $2 = awk regex selecting the stanza's Suites line (optional)
  awk -v want="$2" '
    /^URIs:/ { uri = $2 }
    /^Suites:/ { if (want == "" || $0 ~ want) { print uri; exit } }' "$1"
}
mirror=http://deb.debian.org/debian
security=http://deb.debian.org/debian-security
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  mirror=$(first_uri /etc/apt/sources.list.d/debian.sources "bookworm( |$)")
  security=$(first_uri /etc/apt/sources.list.d/debian.sources "security")
  mirror=${mirror:-http://deb.debian.org/debian}
  security=${security:-http://deb.debian.org/debian-security}
fi
cat > "$apt_dir/sources.list" <<LIST
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
deb $mirror bookworm-backports main
LIST

apt_opts=(
  -o "Dir::Etc::sourcelist=$apt_dir/sources.list"
  -o "Dir::Etc::sourceparts=/nonexistent"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
  -o "DPkg::Lock::Timeout=300"
)
export DEBIAN_FRONTEND=noninteractive
apt-get "${apt_opts[@]}" update -qq

# qemu-system-x86 must match qemu-utils: when that is a backport, take qemu and
# its own dependencies (qemu-system-common, -data, seabios) from backports.
others=()
for p in "${need[@]}"; do
  [ "$p" = qemu-system-x86 ] || others+=("$p")
done
if [ ${#others[@]} -gt 0 ]; then
  echo "host-deps: installing ${others[*]}"
  apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${others[@]}" >/dev/null
fi
if ! command -v qemu-system-x86_64 >/dev/null; then
  release=()
  if dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null | grep -q bpo; then
    release=(-t bookworm-backports)
  fi
  echo "host-deps: installing qemu-system-x86 ${release[*]}"
  apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${release[@]}" qemu-system-x86 >/dev/null
fi
echo "host-deps: $(qemu-system-x86_64 --version | head -1); mmdebstrap $(mmdebstrap --version | awk '{print $2}')"
