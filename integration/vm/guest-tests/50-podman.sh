# vm-timeout: 900
# podman through mcsrun (`podman --runtime /usr/local/bin/mcsrun`): podman labels its
# containers itself, so mcsrun keeps podman's label, reserves its level (never handing it
# to another container) and releases it on `podman rm`; `--security-opt label=disable`
# stays unlabelled exactly as under podman with its own runtime; exec, stop and rm pass
# (podman calls `delete` with no PATH in the environment).
. "$(dirname "$0")/lib.sh"
only_on_boot enforcing

MCS=(podman --runtime /usr/local/bin/mcsrun)
# crun would ask systemd over D-Bus for a scope; the guest runs no D-Bus daemon.
PLAIN=(podman --runtime /usr/bin/crun --cgroup-manager cgroupfs)

section "podman"
mkdir -p /var/lib/containers/storage
restorecon -R /var/lib/containers
[ -f "$WORK/busybox-image.tar" ] || make_docker_archive "$WORK/busybox-image.tar"
out=$(timeout 300 podman load -i "$WORK/busybox-image.tar" 2>&1)
restorecon -R /var/lib/containers
check "podman loads the busybox image" "$(podman --version) $(echo "$out" | tail -n 1)" \
  eval 'podman image exists local/busybox:latest'

level_held() { mcsctl list --json 2>/dev/null | jq -r '.[].level' | grep -qxF "$1"; }
held_count() { mcsctl list --json 2>/dev/null | jq 'length'; }
podman_pid() { podman inspect -f '{{.State.Pid}}' "$1" 2>/dev/null; }

section "podman run through mcsrun: p-one and p-two"
for name in p-one p-two; do
  out=$(timeout 180 "${MCS[@]}" run -d --network none --name "$name" local/busybox:latest sleep 600 2>&1)
  check "podman run -d $name through mcsrun" "$out" eval '[ "$(podman inspect -f "{{.State.Running}}" "$name" 2>/dev/null)" = true ]'
done
label_1=$(pid_label "$(podman_pid p-one)"); level_1=$(label_level "$label_1")
label_2=$(pid_label "$(podman_pid p-two)"); level_2=$(label_level "$label_2")
given_1=$(podman inspect -f '{{.ProcessLabel}}' p-one 2>/dev/null)
record_ps "p-one=$(podman_pid p-one)" "p-two=$(podman_pid p-two)"
mcsctl list > "$MCSRUN_VM_OUT/info/podman-mcsctl-before.txt" 2>&1
ps -eZ | grep -E 'sleep|conmon' > "$MCSRUN_VM_OUT/info/podman-ps-before.txt"
check "p-one runs at the label podman gave it" "process: $label_1; podman: $given_1" \
  eval '[ -n "$label_1" ] && [ "$label_1" = "$given_1" ] && [ "$(label_type "$label_1")" = container_t ] && is_mcs_pair "$level_1"'
check "p-one and p-two have different levels" "p-one=$level_1 p-two=$level_2" \
  eval '[ -n "$level_1" ] && [ "$level_1" != "$level_2" ]'
check "mcsrun holds both of podman's levels (kept, reserved)" "$(mcsctl list 2>&1 | tr -s ' ' | tr '\n' ';')" \
  eval 'level_held "$level_1" && level_held "$level_2" &&
        mcsctl list --json | jq -e --arg l "$level_1" "[.[] | select(.level == \$l and .rule == \"existing-label\")] | length == 1" > /dev/null'
out=$(timeout 60 "${MCS[@]}" exec p-one cat /proc/self/attr/current 2>&1 | tr -d '\0')
check "podman exec lands at p-one's label" "exec: $out; container: $label_1" test "$out" = "$label_1"

section "mcsrun never hands a level podman holds to another container"
# podman labels p-fixed at s0:c1,c2 (its own choice, asked for here); mcsrun, drawing
# from c1.c3 (three pairs), must give its own containers the two others and then report
# the range full — never s0:c1,c2.
out=$(timeout 180 "${MCS[@]}" run -d --network none --security-opt label=level:s0:c1,c2 --name p-fixed local/busybox:latest sleep 600 2>&1)
check "podman's p-fixed runs at s0:c1,c2, held by mcsrun" "$out $(pid_label "$(podman_pid p-fixed)")" \
  eval 'label_level "$(pid_label "$(podman_pid p-fixed)")" | grep -qx "s0:c1,c2" && level_held s0:c1,c2'
b=$WORK/podman-neighbour
rm -rf "$b"; mkdir -p "$b"
make_busybox_rootfs "$b/rootfs"
echo 'categories = "c1.c3"' > "$WORK/tiny.toml"
got=() refused=
for i in 1 2 3; do
  # A fresh config.json each time: a create writes its labels into the bundle.
  write_bundle_config "$b" neighbour '["sleep","600"]'
  # A detached container keeps the stdio it was given: never a pipe that is waited on.
  if MCSRUN_CONFIG=$WORK/tiny.toml timeout 120 mcsrun run -d --bundle "$b" "neighbour-$i" \
    < /dev/null > "$WORK/neighbour-$i.out" 2>&1; then
    got+=("$(label_level "$(pid_label "$(runc state "neighbour-$i" | jq -r .pid)")")")
  else
    refused=$(cat "$WORK/neighbour-$i.out")
  fi
done
check "mcsrun's containers get the two other pairs, then the range is full" \
  "got: ${got[*]:-none}; third: ${refused:-not refused}" \
  eval '[ "$(printf "%s\n" "${got[@]}" | sort | tr "\n" " ")" = "s0:c1,c3 s0:c2,c3 " ] && grep -q "no free MCS level in c1.c3" <<< "$refused"'
for i in 1 2 3; do runc kill "neighbour-$i" KILL 2>/dev/null; done
sleep 1
for i in 1 2 3; do MCSRUN_CONFIG=$WORK/tiny.toml mcsrun delete --force "neighbour-$i" > /dev/null 2>&1; done
"${MCS[@]}" rm -f p-fixed > /dev/null 2>&1

section "--security-opt label=disable, through mcsrun and podman's own runtime"
out=$(timeout 180 "${MCS[@]}" run -d --network none --security-opt label=disable --name p-off local/busybox:latest sleep 600 2>&1)
timeout 180 "${PLAIN[@]}" run -d --network none --security-opt label=disable --name p-off-plain local/busybox:latest sleep 600 > /dev/null 2>&1
label_off=$(pid_label "$(podman_pid p-off)")
label_off_plain=$(pid_label "$(podman_pid p-off-plain)")
record_ps "p-off=$(podman_pid p-off)" "p-off-plain=$(podman_pid p-off-plain)"
check "label=disable runs as under podman alone, not container_t" "through mcsrun: $label_off; podman+crun: $label_off_plain" \
  eval '[ -n "$label_off" ] && [ "$label_off" = "$label_off_plain" ] && [ "$(label_type "$label_off")" != container_t ]'
id_off=$(podman inspect -f '{{.Id}}' p-off 2>/dev/null)
check "mcsrun holds no level for the label=disable container" "$(mcsctl list 2>&1 | tr -s ' ' | tr '\n' ';')" \
  eval '! mcsctl list --json | jq -e --arg id "$id_off" "any(.[]; .id == \$id)" > /dev/null'

section "podman stop, rm"
out=$(timeout 120 "${MCS[@]}" stop -t 2 p-one 2>&1)
check "podman stop p-one" "$out" eval '[ "$(podman inspect -f "{{.State.Running}}" p-one)" = false ]'
out=$(timeout 180 "${MCS[@]}" rm -f p-one p-two p-off 2>&1)
check "podman rm (podman deletes with no PATH)" "$out" eval '! podman container exists p-one && ! podman container exists p-two && ! podman container exists p-off'
"${PLAIN[@]}" rm -f p-off-plain > /dev/null 2>&1
mcsctl list > "$MCSRUN_VM_OUT/info/podman-mcsctl-after.txt" 2>&1
check "podman rm releases the levels" "$(tr -s ' ' < "$MCSRUN_VM_OUT/info/podman-mcsctl-after.txt" | tr '\n' ';')" \
  eval '! level_held "$level_1" && ! level_held "$level_2"'
true
