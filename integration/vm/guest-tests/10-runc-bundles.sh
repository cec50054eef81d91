# runc-style bundles (plain-directory rootfs) through mcsrun in its default
# `auto` mode: two containers get distinct container_t levels chosen by mcsrun,
# their rootfs and z/Z volumes are relabelled, MCS keeps B out of A's files,
# and `mcsrun exec` joins A at A's level.
. "$(dirname "$0")/lib.sh"
only_on_boot enforcing

W=$WORK/bundles
rm -rf "$W"; mkdir -p "$W/shared" "$W/vol-a"
echo "secret of A" > "$W/vol-a/secret.txt"
# DAC lets everyone in: only SELinux may keep B out.
chmod 0777 "$W/shared" "$W/vol-a"; chmod 0666 "$W/vol-a/secret.txt"

# A: private volume (Z) at /vol, shared volume (z) at /shared.
mkdir -p "$W/A"; make_busybox_rootfs "$W/A/rootfs"
write_bundle_config "$W/A" ctr-a '["sleep","600"]' "$(jq -cn --arg s "$W/shared" --arg v "$W/vol-a" '[
  {destination: "/shared", type: "bind", source: $s, options: ["rbind", "rw", "z"]},
  {destination: "/vol", type: "bind", source: $v, options: ["rbind", "rw", "Z"]}]')"
# B: the same shared volume (z), and A's private volume mounted plainly at /vol-a,
# plus A's private file alone at /secret-a.txt (denials on container_file_t
# directories are dontaudit in the container policy; on files they are audited).
mkdir -p "$W/B"; make_busybox_rootfs "$W/B/rootfs"
write_bundle_config "$W/B" ctr-b '["sleep","600"]' "$(jq -cn --arg s "$W/shared" --arg v "$W/vol-a" '[
  {destination: "/shared", type: "bind", source: $s, options: ["rbind", "rw", "z"]},
  {destination: "/vol-a", type: "bind", source: $v, options: ["rbind", "rw"]},
  {destination: "/secret-a.txt", type: "bind", source: ($v + "/secret.txt"), options: ["rbind", "rw"]}]')"

# Detached containers inherit mcsrun's stdio: give them a file every container
# level may write (container_file_t:s0), so the kernel does not swap it for /dev/null.
errlog() { : > "$1"; chcon -t container_file_t -l s0 "$1"; }

section "start A (mcsrun run -d) and B (mcsrun create + start)"
errlog "$W/a.err"; errlog "$W/b.err"
cd /
timeout 120 mcsrun run -d --bundle "$W/A" ctr-a < /dev/null > /dev/null 2> "$W/a.err"
rc_a=$?
timeout 120 mcsrun create --bundle "$W/B" ctr-b < /dev/null > /dev/null 2> "$W/b.err"
rc_b=$?
[ $rc_b = 0 ] && { timeout 60 mcsrun start ctr-b 2>> "$W/b.err"; rc_b=$?; }
check "mcsrun run -d starts A" "exit $rc_a $(cat "$W/a.err")" test $rc_a = 0
check "mcsrun create + start starts B" "exit $rc_b $(cat "$W/b.err")" test $rc_b = 0
mcsrun list
pid_a=$(mcsrun state ctr-a 2>/dev/null | jq -r .pid)
pid_b=$(mcsrun state ctr-b 2>/dev/null | jq -r .pid)
label_a=$(pid_label "$pid_a"); level_a=$(label_level "$label_a")
label_b=$(pid_label "$pid_b"); level_b=$(label_level "$label_b")

section "process labels"
record_ps "ctr-a=$pid_a" "ctr-b=$pid_b"
check "A runs as container_t with an MCS pair" "pid $pid_a: $label_a" \
  eval '[ "$(label_type "$label_a")" = container_t ] && is_mcs_pair "$level_a"'
check "B runs as container_t with an MCS pair" "pid $pid_b: $label_b" \
  eval '[ "$(label_type "$label_b")" = container_t ] && is_mcs_pair "$level_b"'
check "A and B have different levels" "A=$level_a B=$level_b" \
  eval '[ -n "$level_a" ] && [ "$level_a" != "$level_b" ]'

section "files carry the labels"
want_a=system_u:object_r:container_file_t:$level_a
want_b=system_u:object_r:container_file_t:$level_b
ls -Zd "$W/A/rootfs" "$W/A/rootfs/bin/busybox" "$W/B/rootfs" "$W/shared" "$W/vol-a" "$W/vol-a/secret.txt"
got=$(file_label "$W/A/rootfs/bin/busybox")
check "A's rootfs relabelled to A's level" "rootfs=$(file_label "$W/A/rootfs") bin/busybox=$got" \
  eval '[ "$(file_label "$W/A/rootfs")" = "$want_a" ] && [ "$got" = "$want_a" ]'
got=$(file_label "$W/B/rootfs/bin/busybox")
check "B's rootfs relabelled to B's level" "bin/busybox=$got" test "$got" = "$want_b"
got=$(file_label "$W/vol-a/secret.txt")
check "A's Z volume carries A's level" "vol-a=$(file_label "$W/vol-a") secret.txt=$got" \
  eval '[ "$(file_label "$W/vol-a")" = "$want_a" ] && [ "$got" = "$want_a" ]'
got=$(file_label "$W/shared")
check "the z volume is shared (level s0)" "shared=$got" \
  test "$got" = system_u:object_r:container_file_t:s0
opts=$(jq -c '[.mounts[] | select(.type == "bind") | .options]' "$W/A/config.json")
check "z/Z are gone from the options runc sees" "A's bind options: $opts" \
  eval '! grep -q -E "\"[zZ]\"" <<< "$opts"'

section "mcsrun exec joins A at A's level"
out=$(timeout 60 mcsrun exec ctr-a cat /proc/self/attr/current < /dev/null 2>&1 | tr -d '\0')
check "mcsrun exec runs at A's label" "exec: $out; A: $label_a" \
  eval '[ -n "$label_a" ] && [ "$out" = "$label_a" ]'
out=$(timeout 60 mcsrun exec ctr-a sh -c 'cat /vol/secret.txt && echo "made by A" > /shared/from-a.txt && echo ok' < /dev/null 2>&1)
check "A reads its Z volume and writes into the z volume" "$out" \
  eval 'grep -q "secret of A" <<< "$out" && grep -q "^ok$" <<< "$out"'
got=$(file_label "$W/shared/from-a.txt")
# A new file takes the level of the process that creates it, not the directory's.
check "A's file in the z volume carries A's level" "from-a.txt=$got" test "$got" = "$want_a"

section "B against A's files (DAC allows, MCS must deny)"
avc_mark
out=$(timeout 60 mcsrun exec ctr-b sh -c 'cat /shared/from-a.txt; echo "rc=$?"' < /dev/null 2>&1)
check "B is denied A's file in the z volume (EACCES)" "$out" \
  eval 'grep -q "Permission denied" <<< "$out" && ! grep -q "made by A" <<< "$out"'
out=$(timeout 60 mcsrun exec ctr-b sh -c 'cat /vol-a/secret.txt; echo "rc=$?"' < /dev/null 2>&1)
check "B is denied A's Z volume (EACCES)" "$out" \
  eval 'grep -q "Permission denied" <<< "$out" && ! grep -q "secret of A" <<< "$out"'
out=$(timeout 60 mcsrun exec ctr-b sh -c 'cat /secret-a.txt; echo "rc=$?"' < /dev/null 2>&1)
check "B is denied the file of A's Z volume bound alone (EACCES)" "$out" \
  eval 'grep -q "Permission denied" <<< "$out" && ! grep -q "secret of A" <<< "$out"'
out=$(timeout 60 mcsrun exec ctr-b sh -c 'echo "made by B" > /shared/from-b.txt && cat /shared/from-b.txt' < /dev/null 2>&1)
check "B uses the z volume itself" "$out" grep -q "made by B" <<< "$out"
sleep 1
avcs=$(avc_since_mark | grep -F "scontext=system_u:system_r:container_t:$level_b " | grep -F "tcontext=$want_a ")
for f in from-a.txt secret.txt; do
  avc=$(grep -F "name=\"$f\"" <<< "$avcs" | head -1)
  [ -n "$avc" ] && record_avc "$avc"
  check "the kernel logged an AVC denial for B reading A's $f" "${avc:-no AVC line with scontext B, tcontext A, name $f}" test -n "$avc"
done

section "delete releases the levels"
timeout 30 mcsrun kill ctr-a KILL; timeout 30 mcsrun kill ctr-b KILL
sleep 1
timeout 60 mcsrun delete ctr-a; rc_a=$?
timeout 60 mcsrun delete ctr-b; rc_b=$?
check "mcsrun delete removes A and B" "exit A=$rc_a B=$rc_b" test "$rc_a$rc_b" = 00
held=$(mcsctl list --json 2>&1)
check "no level is held for A or B after delete" "mcsctl list --json: $held" \
  eval 'jq -e "map(select(.id == \"ctr-a\" or .id == \"ctr-b\")) | length == 0" <<< "$held" > /dev/null'
true
