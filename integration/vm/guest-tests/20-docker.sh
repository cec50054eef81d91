# The reported scenario with docker: dockerd WITHOUT --selinux-enabled, mcsrun as
# its default runtime. Containers must run as container_t with their own
# categories (not spc_t/unconfined_t), `docker exec` must land at the
# container's level, and the overlay rootfs, re-mounted by mcsrun with
# context=, must be readable and writable by its own container.
. "$(dirname "$0")/lib.sh"
only_on_boot enforcing

# Created by dockerd itself, docker's storage is var_lib_t and no container can map
# its binaries (DESIGN §5). mcsctl doctor must say so, with the fix; after the fix
# (the labels container-selinux's file contexts give: overlay2 = container_ro_file_t)
# it must report the storage ok.
section "mcsctl doctor diagnoses var_lib_t layers"
mkdir -p /var/lib/docker/overlay2/doctor-probe/diff/bin /var/lib/docker/image /var/lib/docker/containers
cp /bin/busybox /var/lib/docker/overlay2/doctor-probe/diff/bin/busybox
chcon -R -t var_lib_t /var/lib/docker
doctor_before=$(timeout 120 mcsctl doctor 2>&1); doctor_rc=$?
echo "$doctor_before" > "$MCSRUN_VM_OUT/info/doctor-before-fix.txt"
echo "$doctor_before"
check "doctor fails var_lib_t layers and exits non-zero" \
  "exit $doctor_rc: $(echo "$doctor_before" | grep -A1 '^fail storage')" \
  eval '[ "$doctor_rc" -ne 0 ] && echo "$doctor_before" | grep -q "^fail storage .*var_lib_t"'
check "doctor prints the chcon and semanage fixes" \
  "$(echo "$doctor_before" | grep -A1 '^fail storage' | tail -n 1)" \
  eval 'echo "$doctor_before" | grep -q "chcon -R -t container_ro_file_t /var/lib/docker/overlay2" &&
        echo "$doctor_before" | grep -q "semanage fcontext -a -t container_ro_file_t"'
restorecon -R /var/lib/docker
ls -Zd /var/lib/docker /var/lib/docker/overlay2 /var/lib/docker/overlay2/doctor-probe/diff/bin/busybox
doctor_after=$(timeout 120 mcsctl doctor 2>&1); doctor_rc=$?
echo "$doctor_after" > "$MCSRUN_VM_OUT/info/doctor-after-fix.txt"
echo "$doctor_after"
check "doctor reports the relabelled storage ok" \
  "exit $doctor_rc: $(echo "$doctor_after" | grep '^[a-z]* *storage')" \
  eval 'echo "$doctor_after" | grep -q "^ok   storage"'
rm -rf /var/lib/docker/overlay2/doctor-probe

section "dockerd (no --selinux-enabled, default-runtime mcsrun)"
if ! start_dockerd; then
  fail "dockerd starts" "$(tail -n 3 "$MCSRUN_VM_OUT/info/dockerd-$SUITE.log" "$MCSRUN_VM_OUT/info/containerd-$SUITE.log" 2>&1)"
  stop_dockerd
  exit 0
fi
check "dockerd runs with mcsrun as default runtime" \
  "$(docker info --format 'security: {{.SecurityOptions}} default runtime: {{.DefaultRuntime}}' 2>&1)" \
  eval 'docker info --format "{{.DefaultRuntime}}" 2>/dev/null | grep -qx mcsrun'
make_docker_archive "$WORK/busybox-image.tar"
docker load -i "$WORK/busybox-image.tar"

section "docker run -d: nginx01 and post-db"
for name in nginx01 post-db; do
  out=$(timeout 180 docker run -d --network none --name "$name" local/busybox:latest sleep 600 2>&1)
  check "docker run -d --name $name" "$out" eval '[ "$(docker inspect -f "{{.State.Running}}" "$name" 2>/dev/null)" = true ]'
done
pid_n=$(docker inspect -f '{{.State.Pid}}' nginx01 2>/dev/null)
pid_p=$(docker inspect -f '{{.State.Pid}}' post-db 2>/dev/null)
label_n=$(pid_label "$pid_n"); level_n=$(label_level "$label_n")
label_p=$(pid_label "$pid_p"); level_p=$(label_level "$label_p")
record_ps "nginx01=$pid_n" "post-db=$pid_p"
check "nginx01 runs as container_t with an MCS pair" "$label_n" \
  eval '[ "$(label_type "$label_n")" = container_t ] && is_mcs_pair "$level_n"'
check "post-db runs as container_t with an MCS pair" "$label_p" \
  eval '[ "$(label_type "$label_p")" = container_t ] && is_mcs_pair "$level_p"'
check "nginx01 and post-db have different levels" "nginx01=$level_n post-db=$level_p" \
  eval '[ -n "$level_n" ] && [ "$level_n" != "$level_p" ]'

section "docker exec"
out=$(timeout 60 docker exec nginx01 cat /proc/self/attr/current 2>&1 | tr -d '\0')
check "docker exec lands at nginx01's label" "exec: $out; container: $label_n" \
  eval '[ -n "$label_n" ] && [ "$out" = "$label_n" ]'

section "overlay rootfs re-mounted with context="
root_line=$(timeout 60 docker exec nginx01 cat /proc/self/mountinfo 2>&1 | awk '$5 == "/"' | head -1)
echo "$root_line"
check "nginx01's rootfs is mounted with its mount label" "$root_line" \
  grep -qF "context=\"system_u:object_r:container_file_t:$level_n\"" <<< "$root_line"
out=$(timeout 60 docker exec nginx01 sh -c 'echo hello > /written-by-nginx01 && cat /written-by-nginx01 && cat /bin/busybox > /dev/null && echo read-ok' 2>&1)
check "nginx01 reads and writes its own rootfs" "$out" \
  eval 'grep -qx hello <<< "$out" && grep -qx read-ok <<< "$out"'
upper=$(docker inspect -f '{{.GraphDriver.Data.UpperDir}}' nginx01 2>/dev/null)
got=$(file_label "$upper/written-by-nginx01")
check "the new file in the upper layer carries nginx01's level" "$upper/written-by-nginx01: $got" \
  test "$got" = "system_u:object_r:container_file_t:$level_n"
overlay_mounts=$(grep -c ' - overlay ' /proc/self/mountinfo)
check "the rootfs overlay is replaced, not stacked" "$(grep -F "$(docker inspect -f '{{.GraphDriver.Data.MergedDir}}' nginx01)" /proc/self/mountinfo | wc -l) mount(s) on nginx01's merged dir; overlay mounts on the host: $overlay_mounts" \
  eval '[ "$(grep -cF " $(docker inspect -f "{{.GraphDriver.Data.MergedDir}}" nginx01) " /proc/self/mountinfo)" = 1 ]'

section "post-db against nginx01's files"
avc_mark
merged_n=$(docker inspect -f '{{.GraphDriver.Data.MergedDir}}' nginx01)
# Hand post-db a bind of nginx01's rootfs to prove the levels separate them.
out=$(timeout 120 docker run --rm --network none -v "$merged_n:/other:ro" local/busybox:latest \
  sh -c 'cat /other/written-by-nginx01; echo "rc=$?"' 2>&1)
check "another container is denied nginx01's rootfs" "$out" \
  eval 'grep -q "Permission denied" <<< "$out" && ! grep -qx hello <<< "$out"'
sleep 1
avc=$(avc_since_mark | grep -F "tcontext=system_u:object_r:container_file_t:$level_n " | head -1)
[ -n "$avc" ] && record_avc "$avc"
# The denial is on the overlay's root directory: container_file_t directories
# are dontaudit for container domains, so usually no AVC line appears.
info "AVC for the denied read" "${avc:-none (directory denials on container_file_t are dontaudit)}"

section "--privileged stays unlabelled"
out=$(timeout 180 docker run -d --privileged --network none --name privileged01 local/busybox:latest sleep 600 2>&1)
pid_priv=$(docker inspect -f '{{.State.Pid}}' privileged01 2>/dev/null)
label_priv=$(pid_label "$pid_priv")
record_ps "privileged01=$pid_priv"
check "docker run --privileged runs" "$out" eval '[ -n "$label_priv" ]'
check "--privileged is not given an MCS level by mcsrun" "$label_priv" \
  eval '[ -n "$label_priv" ] && [ "$(label_type "$label_priv")" != container_t ] && ! is_mcs_pair "$(label_level "$label_priv")"'

section "the same container without mcsrun (docker's runc), for comparison"
timeout 180 docker run -d --runtime runc --network none --name seed-runc local/busybox:latest sleep 600 > /dev/null 2>&1
pid_seed=$(docker inspect -f '{{.State.Pid}}' seed-runc 2>/dev/null)
record_ps "seed-runc=$pid_seed"
info "label with --runtime runc (no mcsrun)" "$(pid_label "$pid_seed")"

section "cleanup"
doctor_live=$(timeout 120 mcsctl doctor 2>&1)
echo "$doctor_live" > "$MCSRUN_VM_OUT/info/doctor-with-containers.txt"
check "doctor: storage ok on dockerd's own layers while the containers run" \
  "$(echo "$doctor_live" | grep '^[a-z]* *storage')" \
  eval 'echo "$doctor_live" | grep -q "^ok   storage" &&
        [ "$(docker inspect -f "{{.State.Running}}" nginx01 2>/dev/null)" = true ]'
timeout 120 docker rm -f nginx01 post-db privileged01 seed-runc > /dev/null
held=$(mcsctl list --json 2>&1)
info "levels held after docker rm" "$held"
stop_dockerd
true
