#!/bin/bash
# Builds the test VM image: Debian 12 with SELinux enforcing (refpolicy
# "default", MCS), the container policy module compiled from selinux-policy-src,
# runc, containerd, docker.io, busybox-static and the boot-time test runner.
# Files are labelled at build time, so the first boot needs no relabel.
#
# The image is cached under $MCSRUN_VM_DIR/image-<key>, where <key> hashes every
# input (this script, guest/*, the mirror); a rerun with the same inputs only
# prints the directory. MCSRUN_VM_REBUILD=1 forces a build.
#
# usage: build-image.sh          build if needed; last line of output = image dir
#        build-image.sh --dir    print the image dir for the current inputs only
# Output files: root.img (raw ext4), vmlinuz, initrd.img, policy-facts.txt
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
MCSRUN_VM_DIR=${MCSRUN_VM_DIR:-/var/tmp/mcsrun-vm}
IMAGE_SIZE=${IMAGE_SIZE:-8G}
if [ -z "${MIRROR:-}" ]; then
  MIRROR=http://deb.debian.org/debian
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    MIRROR=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
  fi
fi

packages=(
  linux-image-amd64 systemd-sysv udev kmod procps util-linux zstd
  selinux-policy-default policycoreutils selinux-utils setools
  selinux-policy-dev selinux-policy-src
  runc containerd docker.io busybox-static jq
  iptables postgresql-client-15 podman crun dmsetup
)

key=$( {
  cat "$here/build-image.sh"
  for f in "$here"/guest/*; do echo "== $(basename "$f")"; cat "$f"; done
  echo "$MIRROR $IMAGE_SIZE ${packages[*]}"
} | sha256sum | cut -c1-16)
image_dir=$MCSRUN_VM_DIR/image-$key

if [ "${1:-}" = --dir ]; then echo "$image_dir"; exit 0; fi
if [ -f "$image_dir/complete" ] && [ "${MCSRUN_VM_REBUILD:-0}" != 1 ]; then
  echo "build-image: reusing $image_dir"
  echo "$image_dir"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "build-image: must run as root (mmdebstrap --mode=root)" >&2; exit 1; }

t0=$(date +%s)
rootfs=$MCSRUN_VM_DIR/rootfs
debs=$MCSRUN_VM_DIR/debs
mkdir -p "$MCSRUN_VM_DIR" "$debs"
rm -rf "$image_dir" "$rootfs"
mkdir -p "$image_dir"
log=$image_dir/build.log
echo "build-image: building $image_dir (log: $log)"

# The policy module "container" (container_t, container_file_t, spc_t...) is in
# Debian's selinux-policy-src but not in selinux-policy-default: compile it.
build_container_module='
  set -e
  mkdir -p /root/container-module && cd /root/container-module
  tar -I zstd -xf /usr/src/selinux-policy-src.tar.zst --strip-components=4 \
      selinux-policy-src/policy/modules/services/container.te \
      selinux-policy-src/policy/modules/services/container.fc
  make -s -f /usr/share/selinux/devel/Makefile container.pp
  semodule -i container.pp /root/mcsrun_vm_stdio.cil
  semodule -l | grep -E -x "container|mcsrun_vm_stdio"
  rm -rf /root/container-module /root/mcsrun_vm_stdio.cil'

# A small initrd (only what mounts a virtio ext4 root) boots faster under
# emulation than Debian's generic one.
small_initrd='
  set -e
  printf "%s\n" virtio_pci virtio_blk ext4 crc32c_generic > "$1/etc/initramfs-tools/modules"
  sed -i "s/^MODULES=.*/MODULES=list/" "$1/etc/initramfs-tools/initramfs.conf"
  chroot "$1" update-initramfs -u -k all'

# Engines are started by the tests themselves (as unconfined_t): started by
# systemd they run as initrc_t and their containers cannot start.
mmdebstrap --mode=root --variant=minbase \
  --skip=essential/unlink \
  --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
  --setup-hook="sync-in $debs /var/cache/apt/archives/" \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --include="$(IFS=,; echo "${packages[*]}")" \
  --customize-hook="sync-out /var/cache/apt/archives $debs" \
  --customize-hook='echo mcsrun-vm > "$1/etc/hostname"' \
  --customize-hook='printf "/dev/vda / ext4 rw,relatime 0 1\n" > "$1/etc/fstab"' \
  --customize-hook='printf "SELINUX=enforcing\nSELINUXTYPE=default\n" > "$1/etc/selinux/config"' \
  --customize-hook="copy-in $here/guest/mcsrun-vm-runner /usr/local/sbin/" \
  --customize-hook="copy-in $here/guest/mcsrun-vm-runner.service /etc/systemd/system/" \
  --customize-hook="copy-in $here/guest/mcsrun_vm_stdio.cil /root/" \
  --customize-hook='chmod 755 "$1/usr/local/sbin/mcsrun-vm-runner"' \
  --customize-hook='chroot "$1" systemctl enable mcsrun-vm-runner.service' \
  --customize-hook='chroot "$1" systemctl mask getty.target serial-getty@ttyS0.service getty-static.service docker.service docker.socket containerd.service' \
  --customize-hook='chroot "$1" passwd -d root' \
  --customize-hook="sh -c '$small_initrd' -- \"\$1\"" \
  --customize-hook="chroot \"\$1\" sh -c '$build_container_module'" \
  bookworm "$rootfs" "$MIRROR" >"$log" 2>&1 || { tail -30 "$log"; exit 1; }
t1=$(date +%s)

# Label every file now (mmdebstrap writes a few files after its hooks ran).
# setfiles needs /proc/self/fd, so mount proc for it; the /proc mountpoint
# itself is labelled afterwards.
file_contexts=/etc/selinux/default/contexts/files/file_contexts
mount -t proc proc "$rootfs/proc"
chroot "$rootfs" setfiles -F -e /proc "$file_contexts" / >>"$log" 2>&1 || { umount "$rootfs/proc"; tail "$log"; exit 1; }
umount "$rootfs/proc"
setfattr -h -n security.selinux -v "$(chroot "$rootfs" matchpathcon -n -m dir /proc)" "$rootfs/proc"

# Static policy facts, readable without booting.
chroot "$rootfs" sh -c 'p=$(ls /etc/selinux/default/policy/policy.* | head -1)
  echo "## container types"; seinfo "$p" -t | grep -E "container|spc_t"
  echo "## lxc_contexts"; cat /etc/selinux/default/contexts/lxc_contexts
  echo "## local modules"; semodule -lfull | grep -E "^400"
  echo "## container_t -> container_file_t (file)"; sesearch "$p" -A -s container_t -t container_file_t -c file' \
  >"$image_dir/policy-facts.txt" 2>&1 || true

cp -L "$rootfs"/boot/vmlinuz-* "$image_dir/vmlinuz"
cp -L "$rootfs"/boot/initrd.img-* "$image_dir/initrd.img"
# mke2fs -d copies the tree with its xattrs (security.selinux) without mounting.
mke2fs -q -t ext4 -L mcsrun-vm -d "$rootfs" "$image_dir/root.img" "$IMAGE_SIZE"
rm -rf "$rootfs"
t2=$(date +%s)
echo "mmdebstrap=$((t1 - t0))s label+mkfs=$((t2 - t1))s total=$((t2 - t0))s" > "$image_dir/timing.txt"
touch "$image_dir/complete"
# Keep only the newest image.
for old in "$MCSRUN_VM_DIR"/image-*; do
  [ "$old" = "$image_dir" ] || rm -rf "$old"
done
echo "build-image: built in $((t2 - t0))s ($(cat "$image_dir/timing.txt"))"
echo "$image_dir"
