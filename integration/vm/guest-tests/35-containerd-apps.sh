# vm-timeout: 1500
# The same nginx and PostgreSQL images under containerd, through mcsrun:
# `ctr run --runc-binary mcsrun` of each, then two CRI pods (nginx, postgres)
# made the way a kubelet makes them (cri-pod, a CRI client), with the CRI
# plugin's runc BinaryName set to mcsrun. Each serves, at its own level; a pod's
# container shares its sandbox's level; removal frees the levels.
. "$(dirname "$0")/lib.sh"
only_on_boot enforcing

# shellcheck source=/dev/null
. "$MCSRUN_VM_PAYLOAD/images/images.env"
PG_PASSWORD=mcsrun-secret
export PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=10
CRI_POD=/usr/local/bin/cri-pod
SOCK=/run/containerd/containerd.sock

# HTTP/1.0 GET of / on 127.0.0.1:PORT with bash's /dev/tcp (busybox-static's wget
# crashes in glibc's static resolver).
http_get() {
  timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3 && cat <&3' _ "$1" 2>&1
}
http_ok() { http_get "$1" | head -n 1 | grep -q " 200 "; }
pg_ready() { psql -h 127.0.0.1 -p "$1" -U postgres -X -A -t -c 'select 1' 2>/dev/null | grep -qx 1; }
ctr_pid() { ctr task ls 2>/dev/null | awk -v c="$1" '$1 == c { print $2 }'; }

mkdir -p /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots
restorecon -R /var/lib/containerd

# containerd with its CRI plugin: runc's BinaryName is mcsrun, the sandbox image
# a local one (no registry).
mkdir -p /etc/containerd
containerd config default | sed \
  -e 's|BinaryName = ""|BinaryName = "/usr/local/bin/mcsrun"|' \
  -e 's|sandbox_image = .*|sandbox_image = "docker.io/mcsrun-test/pause:latest"|' \
  > /etc/containerd/config.toml
grep -nE 'BinaryName|sandbox_image' /etc/containerd/config.toml
section "containerd"
if ! start_containerd; then
  fail "containerd starts" "$(tail -n 3 "$MCSRUN_VM_OUT/info/containerd-$SUITE.log")"
  stop_containerd
  exit 0
fi
t0=$(date +%s)
# One namespace for ctr and the CRI plugin: importing (unpacking) each image once is
# minutes under emulation.
export CONTAINERD_NAMESPACE=k8s.io
for dev in $IMAGE_DEVICES; do ctr images import "$dev" > /dev/null; done
make_docker_archive "$WORK/pause.tar" mcsrun-test/pause:latest '{"Entrypoint": ["/bin/sleep", "infinity"]}'
ctr images import "$WORK/pause.tar" > /dev/null
check "images import into containerd" "$(ctr images ls -q | tr '\n' ' ') in $(($(date +%s) - t0))s" \
  eval 'ctr images ls -q | grep -qxF "$IMG_NGINX_REF" && ctr images ls -q | grep -qxF "$IMG_POSTGRES_REF"'

section "ctr run --runc-binary mcsrun: nginx and postgres"
# ctr_log NAME: where ctr keeps the container's output, and its last lines.
ctr_log() { echo "$MCSRUN_VM_OUT/info/ctr-$1.log"; }
ctr_tail() { tail -n 3 "$(ctr_log "$1")" 2>/dev/null | tr '\n' ' '; }
out=$(timeout 180 ctr run -d --log-uri "file://$(ctr_log ctr-nginx)" --net-host --runc-binary /usr/local/bin/mcsrun "$IMG_NGINX_REF" ctr-nginx 2>&1)
wait_for 120 http_ok 80
page=$(http_get 80)
check "ctr run nginx serves" "$out $(echo "$page" | head -c 80)" grep -qF "$IMG_NGINX_INDEX_TEXT" <<< "$page"
out=$(timeout 180 ctr run -d --log-uri "file://$(ctr_log ctr-postgres)" --net-host --env POSTGRES_PASSWORD="$PG_PASSWORD" \
  --runc-binary /usr/local/bin/mcsrun "$IMG_POSTGRES_REF" ctr-postgres 2>&1)
wait_for 240 pg_ready 5432
out2=$(psql -h 127.0.0.1 -U postgres -X -A -t -c 'select version()' 2>&1)
check "ctr run postgres answers SQL" "$out $out2; log: $(ctr_tail ctr-postgres)" grep -q '^PostgreSQL 15' <<< "$out2"
label_cn=$(pid_label "$(ctr_pid ctr-nginx)")
label_cp=$(pid_label "$(ctr_pid ctr-postgres)")
record_ps "ctr-nginx=$(ctr_pid ctr-nginx)" "ctr-postgres=$(ctr_pid ctr-postgres)"
check "ctr nginx and postgres run as container_t at distinct pairs" "nginx=$label_cn postgres=$label_cp" \
  eval '[ "$(label_type "$label_cn")" = container_t ] && [ "$(label_type "$label_cp")" = container_t ] &&
        is_mcs_pair "$(label_level "$label_cn")" && is_mcs_pair "$(label_level "$label_cp")" &&
        [ "$(label_level "$label_cn")" != "$(label_level "$label_cp")" ]'
out=$(timeout 60 ctr task exec --exec-id probe ctr-postgres cat /proc/self/attr/current 2>&1 | tr -d '\0')
check "ctr task exec lands at postgres' label" "exec: $out; container: $label_cp" test "$out" = "$label_cp"
for c in ctr-nginx ctr-postgres; do ctr task kill -s SIGKILL "$c" 2>/dev/null; done
sleep 2
for c in ctr-nginx ctr-postgres; do
  ctr task delete "$c" > /dev/null 2>&1
  ctr container delete "$c" > /dev/null 2>&1
done

section "CRI pods: nginx and postgres"
# An id is 64 hex digits; anything else in cri-pod's answer is an error message.
is_id() { [[ $1 =~ ^[0-9a-f]{64}$ ]]; }
out=$(timeout 300 "$CRI_POD" "$SOCK" run web "$IMG_NGINX_REF" 2>&1)
read -r sb_web c_web <<< "$out"
check "CRI pod web starts" "$out" eval 'is_id "$sb_web" && is_id "$c_web"'
out=$(timeout 300 "$CRI_POD" "$SOCK" run db "$IMG_POSTGRES_REF" POSTGRES_PASSWORD="$PG_PASSWORD" 2>&1)
read -r sb_db c_db <<< "$out"
check "CRI pod db starts" "$out" eval 'is_id "$sb_db" && is_id "$c_db"'
wait_for 120 http_ok 80
page=$(http_get 80)
check "CRI pod web serves" "$(echo "$page" | head -c 80)" grep -qF "$IMG_NGINX_INDEX_TEXT" <<< "$page"
wait_for 240 pg_ready 5432
out=$(psql -h 127.0.0.1 -U postgres -X -A -t -c 'select version()' 2>&1)
check "CRI pod db answers SQL" "$out" grep -q '^PostgreSQL 15' <<< "$out"
pid_sw=$(ctr_pid "$sb_web"); pid_cw=$(ctr_pid "$c_web")
pid_sd=$(ctr_pid "$sb_db"); pid_cd=$(ctr_pid "$c_db")
record_ps "pod-web-sandbox=$pid_sw" "pod-web=$pid_cw" "pod-db-sandbox=$pid_sd" "pod-db=$pid_cd"
l_sw=$(pid_label "$pid_sw"); l_cw=$(pid_label "$pid_cw"); l_sd=$(pid_label "$pid_sd"); l_cd=$(pid_label "$pid_cd")
check "each pod's container shares its sandbox's level" "web: $l_sw / $l_cw; db: $l_sd / $l_cd" \
  eval 'is_mcs_pair "$(label_level "$l_cw")" && [ "$(label_level "$l_sw")" = "$(label_level "$l_cw")" ] &&
        is_mcs_pair "$(label_level "$l_cd")" && [ "$(label_level "$l_sd")" = "$(label_level "$l_cd")" ]'
check "the two pods run at distinct levels, as container_t" "web=$l_cw db=$l_cd" \
  eval '[ "$(label_type "$l_cw")" = container_t ] && [ "$(label_type "$l_cd")" = container_t ] &&
        [ "$(label_level "$l_cw")" != "$(label_level "$l_cd")" ]'
out=$(timeout 120 "$CRI_POD" "$SOCK" exec "$c_db" cat /proc/self/attr/current 2>&1 | tr -d '\0')
check "CRI ExecSync lands at the db container's label" "exec: $out; container: $l_cd" test "$out" = "$l_cd"
held_before=$(mcsctl list 2>&1)
timeout 300 "$CRI_POD" "$SOCK" rm "$sb_web" "$c_web"
timeout 300 "$CRI_POD" "$SOCK" rm "$sb_db" "$c_db"
held_after=$(mcsctl list --json 2>&1)
check "removing the pods frees their levels" "before: $(echo "$held_before" | tr -s ' ' | tr '\n' ';') after: $held_after" \
  eval 'grep -qF "$(label_level "$l_cw")" <<< "$held_before" &&
        ! grep -qF "\"$(label_level "$l_cw")\"" <<< "$held_after" && ! grep -qF "\"$(label_level "$l_cd")\"" <<< "$held_after"'
stop_containerd
rm -f /etc/containerd/config.toml
true
