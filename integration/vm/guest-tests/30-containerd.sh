# containerd with `ctr run --runc-binary /usr/local/bin/mcsrun`: the shim mounts
# the overlay rootfs without context=, mcsrun must re-mount it with the
# container's mount label; two containers get distinct container_t levels.
. "$(dirname "$0")/lib.sh"
only_on_boot enforcing

# Snapshot storage labelled as container-selinux's file contexts say.
mkdir -p /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots
restorecon -R /var/lib/containerd
ls -Zd /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots

section "containerd"
if ! start_containerd; then
  fail "containerd starts" "$(tail -n 3 "$MCSRUN_VM_OUT/info/containerd-$SUITE.log")"
  stop_containerd
  exit 0
fi
pass "containerd starts" "$(ctr version 2>&1 | grep -m1 Version)"
[ -f "$WORK/busybox-image.tar" ] || make_docker_archive "$WORK/busybox-image.tar"
ctr images import "$WORK/busybox-image.tar"
image=docker.io/local/busybox:latest

section "ctr run -d --runc-binary mcsrun: c-one and c-two"
for name in c-one c-two; do
  out=$(timeout 180 ctr run -d --null-io --runc-binary /usr/local/bin/mcsrun "$image" "$name" sleep 600 2>&1)
  check "ctr run -d $name" "$out" eval 'ctr task ls | grep -qE "^$name +[0-9]+ +RUNNING"'
done
ctr task ls
pid_1=$(ctr task ls | awk '$1 == "c-one" { print $2 }')
pid_2=$(ctr task ls | awk '$1 == "c-two" { print $2 }')
label_1=$(pid_label "$pid_1"); level_1=$(label_level "$label_1")
label_2=$(pid_label "$pid_2"); level_2=$(label_level "$label_2")
record_ps "c-one=$pid_1" "c-two=$pid_2"
check "c-one runs as container_t with an MCS pair" "$label_1" \
  eval '[ "$(label_type "$label_1")" = container_t ] && is_mcs_pair "$level_1"'
check "c-two runs as container_t with an MCS pair" "$label_2" \
  eval '[ "$(label_type "$label_2")" = container_t ] && is_mcs_pair "$level_2"'
check "c-one and c-two have different levels" "c-one=$level_1 c-two=$level_2" \
  eval '[ -n "$level_1" ] && [ "$level_1" != "$level_2" ]'

section "rootfs"
rootfs=/run/containerd/io.containerd.runtime.v2.task/default/c-one/rootfs
line=$(awk -v m="$rootfs" '$5 == m' /proc/self/mountinfo)
echo "$line"
check "c-one's rootfs overlay is mounted with its mount label" "$line" \
  grep -qF "context=\"system_u:object_r:container_file_t:$level_1\"" <<< "$line"
check "c-one's rootfs is one mount, not a stack" "$(grep -c " $rootfs " /proc/self/mountinfo) mount(s) at $rootfs" \
  test "$(grep -c " $rootfs " /proc/self/mountinfo)" = 1
out=$(timeout 60 ctr task exec --exec-id probe c-one sh -c \
  'cat /proc/self/attr/current; echo; echo hello > /written-by-c-one && cat /written-by-c-one' 2>&1 | tr -d '\0')
echo "$out"
check "ctr task exec lands at c-one's label" "$out" grep -qxF "$label_1" <<< "$out"
check "c-one writes and reads its own rootfs" "$out" grep -qx hello <<< "$out"
upper=$(grep -o 'upperdir=[^,]*' <<< "$line" | cut -d= -f2)
got=$(file_label "$upper/written-by-c-one")
check "the new file in the upper layer carries c-one's level" "$upper/written-by-c-one: $got" \
  test "$got" = "system_u:object_r:container_file_t:$level_1"

section "cleanup"
for name in c-one c-two; do
  ctr task kill -s SIGKILL "$name" 2>/dev/null
done
sleep 2
for name in c-one c-two; do
  ctr task delete "$name" > /dev/null 2>&1
  ctr container delete "$name" > /dev/null 2>&1
done
held=$(mcsctl list --json 2>&1)
info "levels held after ctr delete" "$held"
stop_containerd
true
