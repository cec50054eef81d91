# vm-timeout: 900
# The package as a user meets it: install the .deb from the payload (its postinst loads
# the SELinux module and relabels), `mcsctl setup docker --set-as-default` on a
# daemon.json that already has settings and another runtime, start docker and containerd
# through systemd (not from this harness), run labelled containers through systemd's
# dockerd, then `dpkg --purge` and check that nothing is left: no file, no module, the
# engines' labels and daemon.json as they were.
. "$(dirname "$0")/lib.sh"
only_on_boot enforcing

deb=$(ls "$MCSRUN_VM_PAYLOAD"/debs/mcsrun_*.deb 2>/dev/null | head -1)
if [ -z "$deb" ]; then
  fail "a .deb in the payload" "none: build it with scripts/package.sh before integration/vm/run.sh"
  exit 0
fi
MCSCTL=/usr/bin/mcsctl
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }

section "install $(basename "$deb")"
mkdir -p /etc/docker
cat > /etc/docker/daemon.json <<'JSON'
{
  "log-level": "info",
  "runtimes": {
    "runc-debug": {
      "path": "/usr/sbin/runc",
      "runtimeArgs": ["--debug"]
    }
  }
}
JSON
cp /etc/docker/daemon.json "$WORK/daemon.json.original"
labels_before=$(ls -Z /usr/sbin/dockerd /usr/bin/containerd)
t0=$(date +%s)
out=$(dpkg -i "$deb" 2>&1); rc=$?
echo "$out"
check "dpkg -i installs the package" "exit $rc in $(elapsed "$t0"): $(echo "$out" | tail -n 2)" \
  eval '[ "$rc" = 0 ] && dpkg-query -W -f="\${Status}" mcsrun | grep -q "install ok installed"'
check "the package's SELinux module is loaded" "$(semodule -l | grep -x mcsrun)" \
  eval 'semodule -l | grep -qx mcsrun'
check "/usr/bin/mcsrun and mcsrun-core are labelled like runc" \
  "$(ls -Z /usr/bin/mcsrun /usr/bin/mcsrun-core /usr/sbin/runc | tr '\n' ' ')" \
  eval '[ "$(stat -c %C /usr/bin/mcsrun)" = "$(stat -c %C /usr/sbin/runc)" ] && [ "$(stat -c %C /usr/bin/mcsrun-core)" = "$(stat -c %C /usr/sbin/runc)" ]'
check "dockerd and containerd carry the engine type" "$(ls -Z /usr/sbin/dockerd /usr/bin/containerd | tr '\n' ' ')" \
  eval 'ls -Z /usr/sbin/dockerd /usr/bin/containerd | grep -c container_engine_exec_t | grep -qx 2'
check "/run/mcsrun is root 0700 with runc's state type" "$(stat -c '%U %a %C' /run/mcsrun 2>&1)" \
  eval '[ "$(stat -c "%U %a" /run/mcsrun)" = "root 700" ] && stat -c %C /run/mcsrun | grep -q container_runtime_t'

section "mcsctl setup docker --set-as-default"
dry=$($MCSCTL setup docker --set-as-default --dry-run 2>&1)
echo "$dry" | tee "$MCSRUN_VM_OUT/info/setup-docker-dry-run.txt"
check "--dry-run prints the diff and writes nothing" "$(echo "$dry" | grep -c '^[-+] ') changed lines" \
  eval 'echo "$dry" | grep -q "^+ *\"default-runtime\": \"mcsrun\"" && cmp -s /etc/docker/daemon.json "$WORK/daemon.json.original"'
out=$($MCSCTL setup docker --set-as-default 2>&1); rc=$?
echo "$out"
cat /etc/docker/daemon.json
check "setup registers mcsrun and keeps the other runtime and settings" "exit $rc: $(jq -c . /etc/docker/daemon.json 2>&1)" \
  eval 'jq -e ".runtimes.mcsrun.path == \"/usr/bin/mcsrun\" and .\"default-runtime\" == \"mcsrun\" and .runtimes.\"runc-debug\".runtimeArgs == [\"--debug\"] and .\"log-level\" == \"info\"" /etc/docker/daemon.json > /dev/null'
again=$($MCSCTL setup docker --set-as-default 2>&1)
check "a second setup changes nothing" "$again" eval 'echo "$again" | grep -q "nothing to change"'

section "docker through systemd"
# Earlier checks ran engines from the harness (unconfined_t): their state may carry labels
# systemd's confined engines cannot use. The file contexts say what it should be.
restorecon -R /var/lib/docker /var/lib/containerd /run/docker /run/containerd /etc/docker /etc/cni 2>/dev/null
systemctl unmask docker.service docker.socket containerd.service > /dev/null 2>&1
systemctl daemon-reload
avc_mark
t0=$(date +%s)
timeout 240 systemctl restart containerd docker; rc=$?
dockerd_pid=$(systemctl show -p MainPID --value docker 2>/dev/null)
containerd_pid=$(systemctl show -p MainPID --value containerd 2>/dev/null)
ps -eZ | awk -v d="$dockerd_pid" -v c="$containerd_pid" 'NR == 1 || $2 == d || $2 == c' | tee "$MCSRUN_VM_OUT/info/engines-ps.txt"
check "systemctl restart containerd docker" "exit $rc in $(elapsed "$t0"): $(systemctl is-active containerd docker | tr '\n' ' ')" \
  eval '[ "$rc" = 0 ] && wait_for 60 sh -c "docker info > /dev/null 2>&1"'
check "systemd's dockerd runs in container_engine_t" "dockerd pid $dockerd_pid: $(pid_label "$dockerd_pid"); containerd pid $containerd_pid: $(pid_label "$containerd_pid")" \
  eval '[ "$(label_type "$(pid_label "$dockerd_pid")")" = container_engine_t ] && [ "$(label_type "$(pid_label "$containerd_pid")")" = container_engine_t ]'
check "its default runtime is mcsrun" "$(docker info --format '{{.DefaultRuntime}}' 2>&1)" \
  eval '[ "$(docker info --format "{{.DefaultRuntime}}" 2>/dev/null)" = mcsrun ]'

section "labelled containers through systemd's dockerd"
make_docker_archive "$WORK/busybox-image.tar"
docker load -i "$WORK/busybox-image.tar" > /dev/null
for name in pkg-web pkg-db; do
  out=$(timeout 180 docker run -d --name "$name" local/busybox:latest sleep 600 2>&1)
  check "docker run -d --name $name" "$out" \
    eval '[ "$(docker inspect -f "{{.State.Running}}" "$name" 2>/dev/null)" = true ]'
done
pid_w=$(docker inspect -f '{{.State.Pid}}' pkg-web 2>/dev/null)
pid_d=$(docker inspect -f '{{.State.Pid}}' pkg-db 2>/dev/null)
label_w=$(pid_label "$pid_w"); label_d=$(pid_label "$pid_d")
{ ps -eZ | head -n 1; ps -eZ | awk -v d="$dockerd_pid" '$2 == d'; } | sed 's/$/   (systemd'"'"'s dockerd)/'
record_ps "pkg-web=$pid_w" "pkg-db=$pid_d"
printf '%s\t%s\n' "$SUITE" "$(ps -eZ | awk -v d="$dockerd_pid" '$2 == d { print $0 "   (dockerd, started by systemd)" }')" >> "$MCSRUN_VM_OUT/labels.txt"
check "both run as container_t with their own MCS pair" "pkg-web=$label_w pkg-db=$label_d" \
  eval '[ "$(label_type "$label_w")" = container_t ] && [ "$(label_type "$label_d")" = container_t ] &&
        is_mcs_pair "$(label_level "$label_w")" && is_mcs_pair "$(label_level "$label_d")" &&
        [ "$(label_level "$label_w")" != "$(label_level "$label_d")" ]'
out=$(timeout 60 docker exec pkg-web cat /proc/self/attr/current 2>&1 | tr -d '\0')
check "docker exec lands at the container's label" "$out" test "$out" = "$label_w"
out=$(timeout 120 docker run --rm local/busybox:latest sh -c 'echo written > /probe && cat /probe' 2>&1)
check "docker run --rm (bridge network) writes its rootfs" "$out" test "$out" = written
held=$($MCSCTL list 2>&1)
echo "$held"
check "mcsctl list shows the two levels" "$(echo "$held" | tail -n +2 | wc -l) held" \
  eval '[ "$(echo "$held" | tail -n +2 | wc -l)" = 2 ]'
status=$($MCSCTL status 2>&1)
echo "$status" > "$MCSRUN_VM_OUT/info/package-status.txt"
echo "$status"
check "mcsctl status has no warning about binary labels or engine domains" \
  "$(echo "$status" | grep '^[a-z]* *domains' | tr '\n' ';')" \
  eval '! echo "$status" | grep -E "^(warn|fail) +domains" > /dev/null'
timeout 120 docker rm -f pkg-web pkg-db > /dev/null
sleep 1
avc=$(avc_since_mark | grep container_engine_t)
[ -n "$avc" ] && echo "$avc" > "$MCSRUN_VM_OUT/info/package-avc.txt"
check "no AVC denial for the engines" "$(echo "$avc" | grep -c . ) denials$( [ -n "$avc" ] && echo ": $(echo "$avc" | head -n 1)")" \
  test -z "$avc"
journalctl -b -u docker -u containerd --no-pager > "$MCSRUN_VM_OUT/info/package-engines-journal.txt" 2>&1

section "dpkg --purge mcsrun"
timeout 120 systemctl stop docker docker.socket containerd
files=$(dpkg-query -L mcsrun | while read -r f; do [ -f "$f" ] && echo "$f"; done)
t0=$(date +%s)
out=$(dpkg --purge mcsrun 2>&1); rc=$?
echo "$out"
info "dpkg --purge output" "$out"
left=$(for f in $files /etc/mcsrun /run/mcsrun /usr/lib/tmpfiles.d/mcsrun.conf /etc/docker/daemon.json.mcsctl-bak; do [ -e "$f" ] && echo "$f"; done)
check "dpkg --purge removes the package" "exit $rc in $(elapsed "$t0")" \
  eval '[ "$rc" = 0 ] && ! dpkg-query -W -f="\${Status}" mcsrun 2>/dev/null | grep -q installed'
check "no file of the package is left" "$(echo "$files" | wc -l) files checked; left: ${left:-none}" test -z "$left"
check "the SELinux module is gone and the engines' labels are back" "$(ls -Z /usr/sbin/dockerd /usr/bin/containerd | tr '\n' ' ')" \
  eval '! semodule -l | grep -qx mcsrun && [ "$(ls -Z /usr/sbin/dockerd /usr/bin/containerd)" = "$labels_before" ]'
check "daemon.json is byte for byte what it was before setup" "$(jq -c . /etc/docker/daemon.json 2>&1)" \
  cmp -s /etc/docker/daemon.json "$WORK/daemon.json.original"
systemctl mask docker.service docker.socket containerd.service > /dev/null 2>&1
true
