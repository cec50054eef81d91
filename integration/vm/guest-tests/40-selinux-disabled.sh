# SELinux-disabled boot: in its default `auto` mode mcsrun is a passthrough and
# containers run unlabelled; with MCSRUN_SELINUX=force the refusal reaches the
# user as a clear error.
. "$(dirname "$0")/lib.sh"
only_on_boot disabled

b=$WORK/passthrough
rm -rf "$b"; mkdir -p "$b"
make_busybox_rootfs "$b/rootfs"
write_bundle_config "$b" passthrough '["sh","-c","echo hello from the container; cat /proc/self/attr/current 2>&1"]'
cp "$b/config.json" "$b/config.json.orig"

section "auto mode: passthrough"
out=$(cd / && timeout 120 mcsrun run --bundle "$b" pt-auto < /dev/null 2>&1); rc=$?
echo "$out"
check "mcsrun run (auto) runs the container" "exit $rc: $out" \
  eval '[ $rc = 0 ] && grep -q "hello from the container" <<< "$out"'
check "no SELinux error from runc" "$out" eval '! grep -qi "selinux" <<< "$out"'
check "config.json is left untouched" "$(cmp "$b/config.json.orig" "$b/config.json" 2>&1 || echo differs)" \
  cmp -s "$b/config.json.orig" "$b/config.json"
timeout 30 mcsrun delete -f pt-auto 2>/dev/null

section "auto mode through docker"
if ! start_dockerd; then
  fail "dockerd starts" "$(tail -n 3 "$MCSRUN_VM_OUT/info/dockerd-$SUITE.log" "$MCSRUN_VM_OUT/info/containerd-$SUITE.log" 2>&1)"
fi
make_docker_archive "$WORK/busybox-image.tar"
docker load -i "$WORK/busybox-image.tar" > /dev/null
# This boot's major LSM is AppArmor and the image has no apparmor_parser, so
# docker's own AppArmor profile is switched off; SELinux is what is tested.
out=$(timeout 180 docker run --rm --network none --security-opt apparmor=unconfined \
  local/busybox:latest echo hello from docker 2>&1); rc=$?
check "docker run via mcsrun (auto) works without SELinux" "exit $rc: $out" \
  eval '[ $rc = 0 ] && grep -q "hello from docker" <<< "$out"'
stop_dockerd

section "force mode: the error reaches the user"
out=$(cd / && MCSRUN_SELINUX=force timeout 120 mcsrun run --bundle "$b" pt-force < /dev/null 2>&1); rc=$?
echo "exit $rc: $out"
check "MCSRUN_SELINUX=force fails" "exit $rc" test $rc != 0
check "the error names SELinux" "$out" grep -qi "selinux" <<< "$out"
check "the container did not run" "$out" eval '! grep -q "hello from the container" <<< "$out"'
timeout 30 mcsrun delete -f pt-force 2>/dev/null
true
