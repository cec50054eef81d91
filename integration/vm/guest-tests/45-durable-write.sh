# vm-timeout: 900
# config.json after a power loss: mcsrun rewrites it without an fsync on ext4 in its
# default modes (data=ordered, auto_da_alloc) and with one elsewhere; either way the
# file must be the old one or the complete new one, never empty or torn. A power loss is
# a dm-flakey device switched to drop every write at some instant after the create
# returned; the filesystem is then mounted again from what reached the "disk".
# Runs on the boot without SELinux (it is about the filesystem, not labels).
. "$(dirname "$0")/lib.sh"
only_on_boot disabled

section "a flaky disk"
modprobe dm-flakey 2>/dev/null
img=$WORK/flakey.img
rm -f "$img"; truncate -s 128M "$img"
loop=$(losetup -f --show "$img") || { fail "loop device" "losetup failed"; exit 0; }
size=$(blockdev --getsz "$loop")
up="0 $size flakey $loop 0 86400 0"
down="0 $size flakey $loop 0 0 86400 1 drop_writes"
if ! dmsetup create mcsrun-flaky --table "$up"; then
  fail "dm-flakey device" "$(dmsetup targets 2>&1 | tr '\n' ' ')"
  losetup -d "$loop"; exit 0
fi
dev=/dev/mapper/mcsrun-flaky
mnt=$WORK/flaky
mkdir -p "$mnt"
cleanup() {
  umount "$mnt" 2>/dev/null
  dmsetup remove mcsrun-flaky 2>/dev/null
  losetup -d "$loop" 2>/dev/null
}
trap cleanup EXIT

# power_loss: from now on nothing reaches the disk; unmount and forget every cached
# block, then bring the disk back and mount what is on it (the journal is replayed).
power_loss() {
  dmsetup load mcsrun-flaky --table "$down"
  dmsetup suspend --nolockfs --noflush mcsrun-flaky
  dmsetup resume mcsrun-flaky
  umount -l "$mnt"
  blockdev --flushbufs "$dev" 2>/dev/null
  echo 3 > /proc/sys/vm/drop_caches
  dmsetup load mcsrun-flaky --table "$up"
  dmsetup suspend mcsrun-flaky
  dmsetup resume mcsrun-flaky
  blockdev --flushbufs "$dev" 2>/dev/null
  echo 3 > /proc/sys/vm/drop_caches
  mount ${1:+-o "$1"} "$dev" "$mnt"
}

# trial OPTIONS WRITER DELAY: the old config.json made durable, WRITER replaces it, and
# after DELAY seconds the power goes. Prints old, new or torn.
trial() {
  local options=$1 writer=$2 delay=$3 b=$mnt/bundle old
  mkdir -p "$b/rootfs"
  write_bundle_config "$b" durable '["true"]'
  sync
  old=$(sha256sum < "$b/config.json")
  case $writer in
    mcsrun) MCSRUN_STATE_DIR=$WORK/durable-state mcsrun --mcs-selinux dry-run --mcs-runtime /bin/true \
              create --bundle "$b" "durable-$RANDOM$RANDOM" > /dev/null 2>&1 ;;
    plain) jq '.annotations = {"replaced": "yes"}' "$b/config.json" > "$b/.config.new" && mv "$b/.config.new" "$b/config.json" ;;
  esac
  sleep "$delay"
  power_loss "$options"
  if [ "$(sha256sum < "$b/config.json")" = "$old" ]; then
    echo old
  elif jq -e '.annotations["run.mcsrun.process-label"] // .annotations.replaced' "$b/config.json" > /dev/null 2>&1; then
    echo new
  else
    echo "torn($(stat -c %s "$b/config.json" 2>/dev/null || echo missing) bytes)"
  fi
  rm -rf "$b"
  sync
}

# run_trials NAME MKFS-OPTIONS MOUNT-OPTIONS WRITER: ten trials over a range of delays,
# around ext4's five-second journal commit.
run_trials() {
  local name=$1 options=$3 writer=$4 results=() delay
  mkfs.ext4 -q -F $2 "$dev"
  mount ${options:+-o "$options"} "$dev" "$mnt"
  for delay in 0 0.05 0.5 1 2 4 5.5 6 8 11; do
    results+=("$delay:$(trial "$options" "$writer" "$delay")")
  done
  umount "$mnt"
  echo "${results[*]}"
}

section "mcsrun on ext4, default mount (no fsync)"
res=$(run_trials default "" "" mcsrun)
echo "$res"
check "mcsrun's config.json after a power loss is the old or the complete new file (ext4 defaults, no fsync)" \
  "$res" eval '! grep -q torn <<< "$res" && grep -q ":old" <<< "$res" && grep -q ":new" <<< "$res"'

section "mcsrun on ext4 mounted noauto_da_alloc (fsync)"
res=$(run_trials noauto "" noauto_da_alloc mcsrun)
echo "$res"
check "mcsrun's config.json after a power loss is the old or the complete new file (noauto_da_alloc, fsync)" \
  "$res" eval '! grep -q torn <<< "$res"'

section "control: a plain write and rename without fsync, on ext4 mounted noauto_da_alloc"
res=$(run_trials control "" noauto_da_alloc plain)
echo "$res"
info "a replace without fsync where the filesystem does not order it (the harm the trials look for)" "$res"
true
