# The guest itself: SELinux state of this boot, the container policy, and plain
# runc running a container at an explicit label (no mcsrun involved). When these
# fail, the mcsrun checks after them say nothing about mcsrun.
. "$(dirname "$0")/lib.sh"

section "SELinux state"
if [ "$BOOT_MODE" = enforcing ]; then
  state=$(getenforce 2>&1)
  check "boot is enforcing" "getenforce: $state" test "$state" = Enforcing
  # The kernel accepts a context only when the loaded policy defines its type.
  check "loaded policy has container_t" "system_u:system_r:container_t:s0:c1,c2 checked in /sys/fs/selinux/context" \
    sh -c 'printf %s system_u:system_r:container_t:s0:c1,c2 > /sys/fs/selinux/context'
  me=$(pid_label $$)
  check "harness runs as unconfined_t:s0" "$me" test "$me" = system_u:system_r:unconfined_t:s0
else
  check "SELinux is disabled" "selinuxenabled: $(selinuxenabled; echo $?), lsm: $(cat /sys/kernel/security/lsm)" \
    sh -c '! selinuxenabled'
fi

section "plain runc"
b=$WORK/platform
rm -rf "$b"; mkdir -p "$b"
make_busybox_rootfs "$b/rootfs"
write_bundle_config "$b" platform '["sh","-c","echo label=$(cat /proc/self/attr/current)"]'
if [ "$BOOT_MODE" = enforcing ]; then
  want=system_u:system_r:container_t:s0:c1,c2
  jq --arg p "$want" '.process.selinuxLabel = $p
      | .linux.mountLabel = "system_u:object_r:container_file_t:s0:c1,c2"' \
    "$b/config.json" > "$b/config.json.new" && mv "$b/config.json.new" "$b/config.json"
  chcon -R -t container_file_t -l s0:c1,c2 "$b/rootfs"
  out=$(cd "$b" && runc run platform-runc < /dev/null 2>&1 | tr -d '\0')
  echo "$out"
  check "runc with an explicit label runs container_t" "$out" \
    grep -q "label=$want" <<< "$out"
else
  out=$(cd "$b" && runc run platform-runc < /dev/null 2>&1)
  echo "$out"
  check "runc runs an unlabelled container" "$out" grep -q "label=" <<< "$out"
fi
runc delete -f platform-runc 2>/dev/null
true
