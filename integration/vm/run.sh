#!/bin/bash
# The enforcing-SELinux VM suite of mcsrun, in one command:
#   integration/vm/run.sh
# 1. installs the host tools (host-deps.sh),
# 2. builds the guest image and the application images (nginx, PostgreSQL,
#    integration/images/build.sh), or reuses the cached ones,
# 3. builds mcsrun, mcsrun-core and mcsctl (cargo build --release) unless MCSRUN_BIN and
#    MCSCTL_BIN name ready binaries, and the CRI client cri-pod (an example),
# 4. boots the image under qemu once with SELinux enforcing and once with
#    SELinux disabled, each time running guest-tests/ from a payload disk,
# 5. prints each check with PASS/FAIL, the container labels seen (ps -eZ) and
#    an AVC denial, and exits non-zero on any failure or missing results.
#
# Environment:
#   MCSRUN_VM_DIR      work and cache dir (default /var/tmp/mcsrun-vm)
#   MCSRUN_BIN, MCSCTL_BIN   use these binaries instead of building them (mcsrun-core is
#                            taken from MCSRUN_BIN's directory)
#   MCSRUN_VM_BOOTS    boots to run (default "enforcing apps disabled": apps is an
#                      enforcing boot of its own for the docker matrix 25-*)
#   MCSRUN_VM_TIMEOUT  seconds allowed per boot (default 2700)
#   MCSRUN_VM_PARALLEL 1 (default): the boots run side by side; 0: one after the other
#   MCSRUN_VM_ACCEL    tcg (default) or kvm where /dev/kvm runs stock kernels
#   MCSRUN_VM_ONLY     glob of check scripts to run, e.g. "00-*" (default all)
# target/debian/mcsrun_*.deb (scripts/package.sh) goes onto the payload when present.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
MCSRUN_VM_DIR=${MCSRUN_VM_DIR:-/var/tmp/mcsrun-vm}
MCSRUN_VM_BOOTS=${MCSRUN_VM_BOOTS:-enforcing apps disabled}
MCSRUN_VM_TIMEOUT=${MCSRUN_VM_TIMEOUT:-2700}
MCSRUN_VM_PARALLEL=${MCSRUN_VM_PARALLEL:-1}
MCSRUN_VM_ACCEL=${MCSRUN_VM_ACCEL:-tcg}
MCSRUN_VM_ONLY=${MCSRUN_VM_ONLY:-[0-9][0-9]-*}
export MCSRUN_VM_DIR
runs=$MCSRUN_VM_DIR/runs
mkdir -p "$runs"
t_start=$(date +%s)
stamp() { echo "[$(($(date +%s) - t_start))s] $*"; }

[ "$(id -u)" = 0 ] || { echo "run.sh: must run as root (image build, qemu)" >&2; exit 1; }

stamp "host dependencies"
"$here/host-deps.sh"
t_deps=$(($(date +%s) - t_start))

# The image build (minutes on a cold cache) and the cargo build run side by side.
stamp "guest image"
image_log=$runs/build-image.log
"$here/build-image.sh" > "$image_log" 2>&1 &
image_pid=$!
apps_log=$runs/build-app-images.log
"$repo/integration/images/build.sh" > "$apps_log" 2>&1 &
apps_pid=$!

t_cargo0=$(date +%s)
if [ -n "${MCSRUN_BIN:-}" ] || [ -n "${MCSCTL_BIN:-}" ]; then
  : "${MCSRUN_BIN:?MCSCTL_BIN is set, MCSRUN_BIN must be too}"
  : "${MCSCTL_BIN:?MCSRUN_BIN is set, MCSCTL_BIN must be too}"
else
  stamp "cargo build --release (mcsrun, mcsrun-core, mcsctl)"
  if ! (cd "$repo" && cargo build --release --bin mcsrun --bin mcsrun-core --bin mcsctl); then
    kill "$image_pid" "$apps_pid" 2>/dev/null || true
    echo "run.sh: cargo build failed" >&2
    exit 1
  fi
  target_dir=${CARGO_TARGET_DIR:-$repo/target}
  MCSRUN_BIN=$target_dir/release/mcsrun
  MCSCTL_BIN=$target_dir/release/mcsctl
fi
stamp "cargo build --release --example cri-pod"
if ! (cd "$repo" && cargo build --release --example cri-pod); then
  kill "$image_pid" "$apps_pid" 2>/dev/null || true
  echo "run.sh: cargo build of cri-pod failed" >&2
  exit 1
fi
CRI_POD_BIN=${CARGO_TARGET_DIR:-$repo/target}/release/examples/cri-pod
# The entry binary hands every call it does not pass through to mcsrun-core beside it.
MCSRUN_CORE_BIN=$(dirname "$MCSRUN_BIN")/mcsrun-core
for b in "$MCSRUN_BIN" "$MCSRUN_CORE_BIN" "$MCSCTL_BIN"; do
  [ -x "$b" ] || { echo "run.sh: $b is not an executable" >&2; exit 1; }
done
t_cargo=$(($(date +%s) - t_cargo0))

if ! wait "$image_pid"; then
  tail -30 "$image_log"
  echo "run.sh: image build failed (log: $image_log)" >&2
  exit 1
fi
image_dir=$(tail -1 "$image_log")
stamp "image: $image_dir ($(head -1 "$image_log"))"
if ! wait "$apps_pid"; then
  tail -30 "$apps_log"
  echo "run.sh: application image build failed (log: $apps_log)" >&2
  exit 1
fi
apps_dir=$(tail -1 "$apps_log")
stamp "application images: $apps_dir ($(head -1 "$apps_log"))"
t_image=$(($(date +%s) - t_start - t_deps))

case $MCSRUN_VM_ACCEL in
  kvm) accel=(-enable-kvm -cpu host) ;;
  *) accel=(-accel tcg,thread=multi -cpu max) ;;
esac

# The check scripts each boot runs. The real applications get an enforcing boot of
# their own: under emulation a guest is mostly one busy vCPU (image loads, one
# container at a time), so boots side by side use the host's cores.
boot_scripts() { # BOOT SCRIPT-BASENAME: succeeds when BOOT runs that script
  case $1:$2 in
    apps:00-* | apps:25-* | apps:90-*) return 0 ;;
    apps:*) return 1 ;;
    enforcing:25-*) return 1 ;;
    *) return 0 ;;
  esac
}

# boot NAME: runs the payload in a fresh VM; results in $runs/NAME/out. NAME is
# enforcing or apps (SELinux enforcing) or disabled (SELinux not initialised).
boot() {
  local mode=$1 dir=$runs/$1 params kind t0 t1 rc script
  case $mode in
    enforcing | apps) params="security=selinux enforcing=1" kind=enforcing ;;
    disabled) params="" kind=disabled ;; # Debian's default LSMs: SELinux not initialised
    *) echo "run.sh: unknown boot $mode" >&2; return 2 ;;
  esac
  rm -rf "$dir"
  mkdir -p "$dir/payload/bin" "$dir/payload/tests" "$dir/out"
  cp "$MCSRUN_BIN" "$dir/payload/bin/mcsrun"
  cp "$MCSRUN_CORE_BIN" "$dir/payload/bin/mcsrun-core"
  cp "$MCSCTL_BIN" "$dir/payload/bin/mcsctl"
  cp "$CRI_POD_BIN" "$dir/payload/bin/cri-pod"
  cp "$here/guest-tests/entry.sh" "$dir/payload/entry.sh"
  cp "$here/guest-tests/lib.sh" "$dir/payload/tests/"
  # The application images reach the guest as read-only disks (a docker-archive
  # is a tar, so the disk itself is the archive): /dev/vdd nginx, /dev/vde postgres.
  mkdir -p "$dir/payload/images"
  { cat "$apps_dir/images.env"; echo 'IMAGE_DEVICES="/dev/vdd /dev/vde"'; } > "$dir/payload/images/images.env"
  # shellcheck disable=SC2086
  for script in "$here"/guest-tests/$MCSRUN_VM_ONLY.sh; do
    [ -f "$script" ] || continue
    if boot_scripts "$mode" "$(basename "$script")"; then cp "$script" "$dir/payload/tests/"; fi
  done
  # The package check (60-package) installs the .deb that scripts/package.sh built.
  if compgen -G "$repo/target/debian/mcsrun_*.deb" > /dev/null; then
    mkdir -p "$dir/payload/debs"
    cp "$repo"/target/debian/mcsrun_*.deb "$dir/payload/debs/"
  fi
  echo "$kind" > "$dir/payload/boot-mode"
  tar -cf "$dir/payload.tar" -C "$dir/payload" .
  truncate -s 64M "$dir/results.img"
  t0=$(date +%s)
  set +e
  timeout "$MCSRUN_VM_TIMEOUT" qemu-system-x86_64 "${accel[@]}" -m 3072 -smp 2 \
    -nodefaults -display none -no-reboot -monitor none -nic none \
    -serial "file:$dir/serial.log" \
    -kernel "$image_dir/vmlinuz" -initrd "$image_dir/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 panic=-1 quiet $params" \
    -drive "file=$image_dir/root.img,format=raw,if=virtio,snapshot=on" \
    -drive "file=$dir/payload.tar,format=raw,if=virtio,readonly=on" \
    -drive "file=$dir/results.img,format=raw,if=virtio" \
    -drive "file=$apps_dir/nginx.tar,format=raw,if=virtio,readonly=on" \
    -drive "file=$apps_dir/postgres.tar,format=raw,if=virtio,readonly=on"
  rc=$?
  set -e
  t1=$(date +%s)
  echo "$((t1 - t0))" > "$dir/boot-seconds"
  [ "$rc" = 124 ] && echo "timed out after ${MCSRUN_VM_TIMEOUT}s" > "$dir/timed-out"
  tar -xf "$dir/results.img" -C "$dir/out" 2>/dev/null || true
  stamp "$mode boot: qemu exit $rc after $((t1 - t0))s"
}

boot_pids=()
for mode in $MCSRUN_VM_BOOTS; do
  stamp "booting ($mode)"
  if [ "$MCSRUN_VM_PARALLEL" = 1 ]; then
    boot "$mode" &
    boot_pids+=($!)
  else
    boot "$mode"
  fi
done
for pid in "${boot_pids[@]}"; do wait "$pid"; done

# ---- report ----------------------------------------------------------------
failures=0
passed=0
echo
echo "================ mcsrun SELinux VM report ================"
for mode in $MCSRUN_VM_BOOTS; do
  dir=$runs/$mode
  echo
  echo "---- $mode boot ($(cat "$dir/boot-seconds" 2>/dev/null || echo "?")s boot-to-poweroff$([ -f "$dir/timed-out" ] && echo ", TIMED OUT"))"
  if [ ! -s "$dir/out/checks.tsv" ]; then
    echo "FAIL  no results from the guest (see $dir/serial.log)"
    tail -15 "$dir/serial.log" 2>/dev/null | sed 's/^/      /'
    failures=$((failures + 1))
    continue
  fi
  if [ -f "$dir/timed-out" ]; then
    echo "FAIL  the guest did not power off in time; results may be partial"
    failures=$((failures + 1))
  fi
  while IFS=$'\t' read -r status suite name detail; do
    [ ${#detail} -gt 150 ] && detail="${detail:0:147}..."
    printf '%-4s  %-18s %s: %s\n' "$status" "$suite" "$name" "$detail"
    case $status in
      FAIL) failures=$((failures + 1)) ;;
      PASS) passed=$((passed + 1)) ;;
    esac
  done < "$dir/out/checks.tsv"
  if [ -s "$dir/out/labels.txt" ]; then
    echo "  labels seen (ps -eZ):"
    sed 's/^\([^\t]*\)\t/    [\1] /' "$dir/out/labels.txt"
  fi
  if [ -s "$dir/out/info/matrix.txt" ]; then
    echo "  docker matrix (anchor: dockerd --selinux-enabled + runc; mcsrun: dockerd without it):"
    sed 's/^/    /' "$dir/out/info/matrix.txt"
  fi
  if [ -s "$dir/out/avc.txt" ]; then
    echo "  AVC denials:"
    sed 's/^\([^\t]*\)\t/    [\1] /' "$dir/out/avc.txt"
  fi
done
echo
echo "timings: deps ${t_deps}s, image ${t_image}s (cargo ${t_cargo}s in parallel), total $(($(date +%s) - t_start))s"
echo "details: $runs/<boot>/out (checks.tsv, logs/, info/, dmesg.txt), serial.log"
echo "selinux-vm: $passed passed, $failures failed"
if [ "$failures" -gt 0 ]; then
  echo "RESULT: $failures failure(s)"
  exit 1
fi
echo "RESULT: all checks passed"
