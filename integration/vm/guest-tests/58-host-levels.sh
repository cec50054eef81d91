# vm-timeout: 900
# Beyond one engine: podman with its own runtime and labelling next to docker through
# mcsrun never share a pair (range forced to c1.c3, three pairs); a level docker brings
# that podman's container uses is warned about, or refused; a volume on a filesystem
# mounted with context= is used by two containers of its level without a relabel; `:Z`
# does not take a live container's volume; a systemd-style container runs as the init
# type where the policy has one.
. "$(dirname "$0")/lib.sh"
only_on_boot enforcing

HL=$WORK/host-levels
rm -rf "$HL"; mkdir -p "$HL"
LOG=$HL/mcsrun.log
for name in tiny refuse; do
  {
    echo 'categories = "c1.c3"'
    echo "log_file = \"$LOG\""
    [ "$name" = refuse ] && echo 'foreign_level = "refuse"'
  } > "$HL/$name.toml"
done
echo "log_file = \"$LOG\"" > "$HL/full.toml"
events() { # EVENT: the decision log's events of that name, one JSON per line
  jq -c --arg e "$1" 'select(.event == $e)' "$LOG" 2>/dev/null
}

section "podman (crun, its own labels) and docker (through mcsrun) on one host"
mkdir -p /var/lib/containers/storage
restorecon -R /var/lib/containers
[ -f "$WORK/busybox-image.tar" ] || make_docker_archive "$WORK/busybox-image.tar"
podman image exists local/busybox:latest || timeout 300 podman load -i "$WORK/busybox-image.tar" > /dev/null 2>&1
restorecon -R /var/lib/containers
# crun would ask systemd over D-Bus for a scope; the guest runs no D-Bus daemon.
out=$(timeout 180 podman --runtime /usr/bin/crun --cgroup-manager cgroupfs run -d --network none \
  --security-opt label=level:s0:c1,c2 --name hl-podman local/busybox:latest sleep 600 2>&1)
pid_podman=$(podman inspect -f '{{.State.Pid}}' hl-podman 2>/dev/null)
level_podman=$(label_level "$(pid_label "$pid_podman")")
check "podman runs hl-podman at s0:c1,c2 with crun, no mcsrun" "$out; $(pid_label "$pid_podman")" \
  test "$level_podman" = "s0:c1,c2"

DOCKER_EXTRA_RUNTIMES="\"mcsrun-tiny\": {\"path\": \"/usr/local/bin/mcsrun\", \"runtimeArgs\": [\"--mcs-config\", \"$HL/tiny.toml\"]},
  \"mcsrun-refuse\": {\"path\": \"/usr/local/bin/mcsrun\", \"runtimeArgs\": [\"--mcs-config\", \"$HL/refuse.toml\"]}"
if ! DOCKER_EXTRA_RUNTIMES=$DOCKER_EXTRA_RUNTIMES start_dockerd; then
  fail "dockerd starts with the c1.c3 runtimes" "$(tail -n 3 "$MCSRUN_VM_OUT/info/dockerd-$SUITE.log" 2>&1)"
else
  docker image inspect local/busybox:latest > /dev/null 2>&1 || docker load -i "$WORK/busybox-image.tar" > /dev/null
  got=() refused=
  for i in 1 2 3; do
    if out=$(timeout 180 docker run -d --runtime mcsrun-tiny --network none --name "hl-docker-$i" local/busybox:latest sleep 600 2>&1); then
      got+=("$(label_level "$(pid_label "$(docker inspect -f '{{.State.Pid}}' "hl-docker-$i")")")")
    else
      refused=$out
    fi
  done
  record_ps "hl-podman=$pid_podman" \
    "hl-docker-1=$(docker inspect -f '{{.State.Pid}}' hl-docker-1 2>/dev/null)" \
    "hl-docker-2=$(docker inspect -f '{{.State.Pid}}' hl-docker-2 2>/dev/null)"
  ps -eZ | grep -E 'sleep' > "$MCSRUN_VM_OUT/info/host-levels-ps.txt"
  check "docker's containers get the two pairs podman does not use, then the range is full" \
    "docker: ${got[*]:-none}; podman: $level_podman; third: ${refused:-not refused}" \
    eval '[ "$(printf "%s\n" "${got[@]}" | sort | tr "\n" " ")" = "s0:c1,c3 s0:c2,c3 " ] && grep -q "no free MCS level in c1.c3" <<< "$refused"'
  mcsctl --config "$HL/tiny.toml" status > "$MCSRUN_VM_OUT/info/host-levels-status.txt" 2>&1
  check "mcsctl status counts the levels by owner" "$(grep levels "$MCSRUN_VM_OUT/info/host-levels-status.txt")" \
    grep -Eq "levels in use on this host by owner: mcsrun [2-9][0-9]*, docker [0-9]+, podman [1-9]" "$MCSRUN_VM_OUT/info/host-levels-status.txt"

  section "a level docker brings that podman's container uses"
  out=$(timeout 180 docker run -d --runtime mcsrun-tiny --network none --security-opt label=level:s0:c1,c2 \
    --name hl-warned local/busybox:latest sleep 600 2>&1)
  check "foreign_level = warn: it runs, and the log names podman's container" \
    "$out; $(events foreign-level | tail -n 1)" \
    eval 'events foreign-level | grep -q "podman container"'
  out=$(timeout 180 docker run -d --runtime mcsrun-refuse --network none --security-opt label=level:s0:c1,c2 \
    --name hl-refused local/busybox:latest sleep 600 2>&1)
  check "foreign_level = refuse: docker run fails naming both owners" "$out" \
    eval 'grep -q "level s0:c1,c2 of docker container .* is already used by podman container" <<< "$out"'
  docker rm -f hl-docker-1 hl-docker-2 hl-docker-3 hl-warned hl-refused > /dev/null 2>&1
  stop_dockerd
fi
podman rm -f hl-podman > /dev/null 2>&1

section "a volume on a filesystem mounted with context="
vol=$HL/ctxvol
mkdir -p "$vol"
# busybox's mount runs in the harness's own domain: mount(8) would transition to mount_t,
# which the harness's role may not enter.
if ! out=$(busybox mount -t tmpfs -o 'context="system_u:object_r:container_file_t:s0:c7,c8"' tmpfs "$vol" 2>&1); then
  fail "a tmpfs mounted with context=...:s0:c7,c8" "$out"
fi
echo shared-by-level > "$vol/f"
before=$(file_label "$vol/f")
bundle_with() { # NAME ARGS_JSON MOUNT_SOURCE [ANNOTATIONS_JSON]
  local b=$HL/$1
  rm -rf "$b"; mkdir -p "$b"
  make_busybox_rootfs "$b/rootfs"
  write_bundle_config "$b" "$1" "$2" \
    "[{\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"$3\", \"options\": [\"rbind\", \"rw\", \"Z\"]}]"
  if [ -n "${4:-}" ]; then
    jq --argjson a "$4" '.annotations = $a' "$b/config.json" > "$b/c.json" && mv "$b/c.json" "$b/config.json"
  fi
  echo "$b"
}
reads=()
for name in ctx-a ctx-b; do
  b=$(bundle_with "$name" '["sh","-c","cat /data/f; cat /proc/self/attr/current"]' "$vol")
  reads+=("$(MCSRUN_CONFIG=$HL/full.toml timeout 120 mcsrun run --bundle "$b" "$name" 2>&1 | tr -d '\0' | tr '\n' ' ')")
done
after=$(file_label "$vol/f")
check "two containers take the volume's level and read it, nothing relabelled" \
  "a: ${reads[0]}; b: ${reads[1]}; file: $before -> $after; $(events volume | grep -c 'keep volume /data') kept" \
  eval '[[ "${reads[0]}" == "shared-by-level system_u:system_r:container_t:s0:c7,c8"* ]] &&
        [[ "${reads[1]}" == "shared-by-level system_u:system_r:container_t:s0:c7,c8"* ]] &&
        [ "$(events volume | grep -c "keep volume /data")" = 2 ] && events decide | grep -q "volume-context (/data)"'
b=$(bundle_with ctx-other '["cat","/data/f"]' "$vol" '{"run.mcsrun.level": "s0:c9,c10"}')
out=$(MCSRUN_CONFIG=$HL/full.toml timeout 120 mcsrun run --bundle "$b" ctx-other 2>&1)
check "a container at another level is refused with the mount's label named" "$out" \
  eval 'grep -q "mounted with context=system_u:object_r:container_file_t:s0:c7,c8" <<< "$out"'
for name in ctx-a ctx-b ctx-other; do MCSRUN_CONFIG=$HL/full.toml mcsrun delete --force "$name" > /dev/null 2>&1; done
busybox umount "$vol"

section ":Z does not take a live container's volume"
zvol=$HL/zvol
mkdir -p "$zvol"; echo mine > "$zvol/f"
b=$(bundle_with z-owner '["sleep","600"]' "$zvol")
MCSRUN_CONFIG=$HL/full.toml timeout 120 mcsrun run -d --bundle "$b" z-owner < /dev/null > /dev/null 2>&1
owner_level=$(label_level "$(pid_label "$(runc state z-owner | jq -r .pid)")")
b=$(bundle_with z-thief '["cat","/data/f"]' "$zvol")
out=$(MCSRUN_CONFIG=$HL/full.toml timeout 120 mcsrun run --bundle "$b" z-thief 2>&1)
check "a second :Z on the same source is refused, naming the owner" \
  "$out; file: $(file_label "$zvol/f"); owner at $owner_level" \
  eval 'grep -q "carries level $owner_level, held by container z-owner" <<< "$out" && file_label "$zvol/f" | grep -q ":$owner_level\$"'
b=$(bundle_with z-taker '["cat","/data/f"]' "$zvol" '{"run.mcsrun.relabel-in-use": "true"}')
out=$(MCSRUN_CONFIG=$HL/full.toml timeout 120 mcsrun run --bundle "$b" z-taker 2>&1)
check "run.mcsrun.relabel-in-use=true takes it anyway" "$out; file: $(file_label "$zvol/f")" \
  eval '[ "$out" = mine ] && ! file_label "$zvol/f" | grep -q ":$owner_level\$"'
runc kill z-owner KILL 2>/dev/null; sleep 1
for name in z-owner z-thief z-taker; do MCSRUN_CONFIG=$HL/full.toml mcsrun delete --force "$name" > /dev/null 2>&1; done

section "a systemd-style container runs as the init type"
b=$HL/init
rm -rf "$b"; mkdir -p "$b"
make_busybox_rootfs "$b/rootfs"
mkdir -p "$b/rootfs/sbin"
printf '#!/bin/sh\ncat /proc/self/attr/current\n' > "$b/rootfs/sbin/init"
chmod 755 "$b/rootfs/sbin/init"
write_bundle_config "$b" init '["/sbin/init"]'
out=$(MCSRUN_CONFIG=$HL/full.toml timeout 120 mcsrun run --bundle "$b" init-1 2>&1 | tr -d '\0')
if printf '%s' "system_u:system_r:container_init_t:s0" > /sys/fs/selinux/context 2>/dev/null; then
  check "/sbin/init runs as container_init_t (the policy has it)" "$out" \
    eval '[ "$(label_type "$out")" = container_init_t ]'
else
  check "/sbin/init runs as container_t, with a logged warning (the policy has no init type)" \
    "$out; $(events init-type | tail -n 1)" \
    eval '[ "$(label_type "$out")" = container_t ] && events init-type | grep -q "no init type"'
fi
MCSRUN_CONFIG=$HL/full.toml mcsrun delete --force init-1 > /dev/null 2>&1
true
