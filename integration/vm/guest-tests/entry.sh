# Entry point of the test payload, run by the image's boot-time runner as
# system_u:system_r:unconfined_t:s0 (or unlabelled on the SELinux-disabled boot).
# Installs mcsrun and mcsctl, then runs every NN-*.sh check script in order.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
P=${MCSRUN_VM_PAYLOAD:-/run/mcsrun-vm/payload}
OUT=${MCSRUN_VM_OUT:-/run/mcsrun-vm/out}
mkdir -p "$OUT/logs"
install -m 0755 "$P/bin/mcsrun" /usr/local/bin/mcsrun
install -m 0755 "$P/bin/mcsrun-core" /usr/local/bin/mcsrun-core
install -m 0755 "$P/bin/mcsctl" /usr/local/bin/mcsctl
# The payload's filesystem does not allow exec: the checks' own tools go on PATH too.
[ -f "$P/bin/cri-pod" ] && install -m 0755 "$P/bin/cri-pod" /usr/local/bin/cri-pod
command -v restorecon >/dev/null && selinuxenabled 2>/dev/null && restorecon /usr/local/bin/mcsrun /usr/local/bin/mcsrun-core /usr/local/bin/mcsctl
{
  echo "boot-mode: $(cat "$P/boot-mode")"
  echo "kernel: $(uname -r)"
  echo "cmdline: $(cat /proc/cmdline)"
  echo "lsm: $(cat /sys/kernel/security/lsm 2>/dev/null)"
  echo "getenforce: $(getenforce 2>&1)"
  echo "harness context: $(tr -d '\0' < /proc/self/attr/current 2>/dev/null)"
  echo "runc: $(runc --version | head -1)"
  echo "mcsrun: $(ls -Z /usr/local/bin/mcsrun 2>/dev/null)"
} | tee "$OUT/environment.txt"
for t in "$P"/tests/[0-9][0-9]-*.sh; do
  name=$(basename "$t" .sh)
  echo
  echo "======== $name (t=$(cut -d' ' -f1 /proc/uptime)s)"
  # A script may ask for more time than the default with a "# vm-timeout: SECONDS" line.
  limit=$(sed -n 's/^# vm-timeout: \([0-9]*\)$/\1/p' "$t" | head -n 1)
  SUITE=$name timeout --kill-after=10 "${limit:-${MCSRUN_VM_CHECK_TIMEOUT:-300}}" bash "$t" 2>&1 | tee "$OUT/logs/$name.log"
  rc=${PIPESTATUS[0]}
  if [ "$rc" != 0 ]; then
    printf 'FAIL\t%s\t%s\t%s\n' "$name" "script exit status" "exited $rc (124 = timed out)" >> "$OUT/checks.tsv"
  fi
done
journalctl -q -b -o short-monotonic > "$OUT/info/journal.txt" 2>&1
journalctl -q -o short-monotonic _TRANSPORT=audit > "$OUT/info/audit-journal.txt" 2>&1
echo "======== done (t=$(cut -d' ' -f1 /proc/uptime)s)"
