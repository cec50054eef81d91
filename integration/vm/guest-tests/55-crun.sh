# vm-timeout: 900
# crun as the runtime below mcsrun (config `runtime = "crun"`): the same checks as with
# runc — a runc-style bundle, docker through mcsrun, a real application — and the
# signal dispositions of the runtime and of the container equal crun's alone.
. "$(dirname "$0")/lib.sh"
only_on_boot enforcing
. "$MCSRUN_VM_PAYLOAD/images/images.env"

mkdir -p /etc/mcsrun
echo 'runtime = "crun"' > /etc/mcsrun/config.toml
trap 'rm -f /etc/mcsrun/config.toml' EXIT

section "a runc-style bundle through mcsrun and crun"
b=$WORK/crun-bundle
rm -rf "$b"; mkdir -p "$b"
make_busybox_rootfs "$b/rootfs"
write_bundle_config "$b" crun-a '["sleep","600"]'
# A detached container keeps the stdio it was given: never a pipe that is waited on.
timeout 120 mcsrun run -d --bundle "$b" crun-a < /dev/null > "$WORK/crun-a.out" 2>&1
out=$(cat "$WORK/crun-a.out")
pid=$(crun state crun-a 2>/dev/null | jq -r .pid)
label=$(pid_label "$pid"); level=$(label_level "$label")
record_ps "crun-a=$pid"
check "mcsrun with crun runs the bundle as container_t with a pair" "$out $label" \
  eval '[ "$(label_type "$label")" = container_t ] && is_mcs_pair "$level"'
got=$(file_label "$b/rootfs/bin/busybox")
check "the bundle's rootfs carries the container's level" "$got" test "$got" = "system_u:object_r:container_file_t:$level"
out=$(timeout 60 mcsrun exec crun-a cat /proc/self/attr/current 2>&1 | tr -d '\0')
check "mcsrun exec (crun) lands at the container's label" "exec: $out; container: $label" test "$out" = "$label"
mcsrun kill crun-a KILL 2>/dev/null; sleep 1
mcsrun delete --force crun-a > /dev/null 2>&1
check "delete (crun) releases the level" "$(mcsctl list 2>&1 | tr -s ' ' | tr '\n' ';')" \
  eval '! mcsctl list --json | jq -e --arg l "$level" "any(.[]; .level == \$l)" > /dev/null'

section "signal dispositions: crun alone and through mcsrun"
sigs() { grep -E '^Sig(Ign|Blk)' "$1" | tr '\n' ' '; }
cat > "$WORK/crun-probe" <<'PROBE'
#!/bin/sh
grep -E '^Sig(Ign|Blk)' /proc/self/status > "$PROBE_OUT"
exec crun "$@"
PROBE
chmod 755 "$WORK/crun-probe"
PROBE_OUT=$WORK/probe-alone "$WORK/crun-probe" --version > /dev/null
PROBE_OUT=$WORK/probe-mcsrun mcsrun --mcs-runtime "$WORK/crun-probe" --version > /dev/null
check "the runtime's SigIgn/SigBlk through mcsrun equal crun's alone" \
  "alone: $(sigs "$WORK/probe-alone"); through mcsrun: $(sigs "$WORK/probe-mcsrun")" \
  test "$(sigs "$WORK/probe-alone")" = "$(sigs "$WORK/probe-mcsrun")"
write_bundle_config "$b" crun-sig '["sh","-c","grep -E \"^Sig(Ign|Blk)\" /proc/self/status"]'
via=$(timeout 120 mcsrun run --bundle "$b" crun-sig 2>&1 | tr '\n' ' ')
jq 'del(.process.selinuxLabel) | del(.linux.mountLabel)' "$b/config.json" > "$b/config.json.new" && mv "$b/config.json.new" "$b/config.json"
alone=$(timeout 120 crun run --bundle "$b" crun-sig-alone 2>&1 | tr '\n' ' ')
check "the container's SigIgn/SigBlk through mcsrun equal crun's alone" "alone: $alone; through mcsrun: $via" \
  eval '[ -n "$alone" ] && [ "$alone" = "$via" ]'

section "docker through mcsrun and crun: nginx, beside docker with crun alone"
DOCKER_EXTRA_RUNTIMES='"crun": {"path": "/usr/bin/crun"}' start_dockerd ||
  { fail "dockerd starts" "$(tail -n 3 "$MCSRUN_VM_OUT/info/dockerd-$SUITE.log")"; stop_dockerd; exit 0; }
restorecon -R /var/lib/docker
docker load -i /dev/vdd > /dev/null
restorecon -R /var/lib/docker
get_page() { # CONTAINER: the first line of a GET of / from inside it
  timeout 60 docker exec "$1" bash -c 'exec 3<>/dev/tcp/127.0.0.1/80 && printf "GET / HTTP/1.0\r\n\r\n" >&3 && cat <&3' 2>&1 | head -n 1
}
timeout 180 docker run -d --runtime crun --name crun-web-alone "$IMG_NGINX_TAG" > /dev/null 2>&1
sleep 2
alone=$(get_page crun-web-alone)
alone_detail="docker with crun alone: ${alone:-no answer} $(docker logs crun-web-alone 2>&1 | tail -n 2 | tr '\n' ' ')"
out=$(timeout 180 docker run -d --name crun-web "$IMG_NGINX_TAG" 2>&1)
pid=$(docker inspect -f '{{.State.Pid}}' crun-web 2>/dev/null)
label=$(pid_label "$pid")
record_ps "crun-web=$pid"
sleep 2
ok=$(get_page crun-web)
detail="$label: ${ok:-no answer} $(docker logs crun-web 2>&1 | tail -n 2 | tr '\n' ' '); $alone_detail"
if grep -q " 200 " <<< "$alone"; then
  check "nginx through docker, mcsrun and crun serves, as container_t (as with crun alone)" "$detail" \
    eval 'grep -q " 200 " <<< "$ok" && [ "$(label_type "$label")" = container_t ] && is_mcs_pair "$(label_level "$label")"'
else
  info "nginx under docker with crun alone does not serve here, so through mcsrun is not judged" "$detail"
fi
docker rm -f crun-web-alone > /dev/null 2>&1
version=$(mcsrun --version 2>&1 | tail -n 1)
check "the runtime below mcsrun is crun" "$version" grep -q "(runtime: /usr/bin/crun)" <<< "$version"
docker rm -f crun-web > /dev/null 2>&1
stop_dockerd
true
