#!/bin/sh
# Makes a runc bundle: DIR/rootfs from the static busybox (Debian: busybox-static) and
# DIR/config.json from `runc spec`, with the container's command set.
#
#   make-bundle.sh [-t] DIR [COMMAND [ARG...]]
#
#   -t        keep a terminal (runc spec's default; needs an interactive `run`)
#   COMMAND   what the container runs; default `sh`, which implies -t
#
# Env: BUSYBOX (default /bin/busybox), RUNC (default runc, for `runc spec`).
# Then, as root:  mcsrun run --bundle DIR demo
set -eu

usage() { echo "usage: $0 [-t] DIR [COMMAND [ARG...]]" >&2; exit 2; }

terminal=false
if [ "${1:-}" = -t ]; then terminal=true; shift; fi
[ $# -ge 1 ] || usage
dir=$1; shift
if [ $# -eq 0 ]; then set -- sh; terminal=true; fi

busybox=${BUSYBOX:-/bin/busybox}
runc=${RUNC:-runc}
command -v jq >/dev/null || { echo "$0: needs jq (apt-get install jq)" >&2; exit 1; }
[ -x "$busybox" ] || { echo "$0: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }
# ldd fails on a static binary; a dynamic one would not start inside the rootfs.
if ldd "$busybox" >/dev/null 2>&1; then
  echo "$0: $busybox is dynamically linked; use busybox-static" >&2; exit 1
fi
[ -e "$dir/config.json" ] && { echo "$0: $dir/config.json exists" >&2; exit 1; }

rootfs=$dir/rootfs
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" \
  "$rootfs/tmp" "$rootfs/root" "$rootfs/run"
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"

"$runc" spec --bundle "$dir"
args_json=$(jq -n '$ARGS.positional' --args -- "$@")
jq --argjson args "$args_json" --argjson terminal "$terminal" \
  '.process.args = $args | .process.terminal = $terminal' \
  "$dir/config.json" >"$dir/config.json.new"
mv "$dir/config.json.new" "$dir/config.json"
echo "bundle ready: $dir (runs: $*)"
