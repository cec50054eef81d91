# `mcsctl status` and `mcsctl list` on this boot: recorded, not judged.
. "$(dirname "$0")/lib.sh"

for cmd in "status" "list --json"; do
  f=$MCSRUN_VM_OUT/info/mcsctl-${cmd%% *}.txt
  # shellcheck disable=SC2086
  timeout 60 mcsctl $cmd > "$f" 2>&1
  rc=$?
  cat "$f"
  info "mcsctl $cmd" "exit $rc: $(head -c 300 "$f")"
done
true
