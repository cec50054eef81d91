# Helpers shared by the in-guest checks (sourced by entry.sh and every NN-*.sh).
#
# Results go to $MCSRUN_VM_OUT, which the runner copies to the results disk:
#   checks.tsv   STATUS<TAB>SUITE<TAB>CHECK<TAB>DETAIL, STATUS = PASS|FAIL|INFO
#   labels.txt   SUITE<TAB>ps -eZ line of a container process
#   avc.txt      SUITE<TAB>an AVC denial line from the kernel log
#   info/        longer outputs (mcsctl status, engine logs)
# SUITE is the basename of the running check script.

MCSRUN_VM_PAYLOAD=${MCSRUN_VM_PAYLOAD:-/run/mcsrun-vm/payload}
MCSRUN_VM_OUT=${MCSRUN_VM_OUT:-/run/mcsrun-vm/out}
BOOT_MODE=$(cat "$MCSRUN_VM_PAYLOAD/boot-mode" 2>/dev/null || echo unknown)
SUITE=${SUITE:-$(basename "${0%.sh}")}
WORK=/var/lib/mcsrun-vm
mkdir -p "$MCSRUN_VM_OUT/info" "$WORK"

result() { # STATUS CHECK DETAIL
  local detail=${3//$'\n'/ | }
  detail=${detail//$'\t'/ }
  printf '%s\t%s\t%s\t%s\n' "$1" "$SUITE" "$2" "$detail" >> "$MCSRUN_VM_OUT/checks.tsv"
  printf '[%s] %s: %s\n' "$1" "$2" "$detail"
}
pass() { result PASS "$1" "$2"; }
fail() { result FAIL "$1" "$2"; }
info() { result INFO "$1" "$2"; }

# check NAME DETAIL COMMAND...: PASS when COMMAND succeeds, else FAIL.
# COMMAND may be `eval '...'` reading the caller's variables; the locals here
# have names no check uses.
check() {
  local _check_name=$1 _check_detail=$2
  shift 2
  if "$@"; then pass "$_check_name" "$_check_detail"; else fail "$_check_name" "$_check_detail"; fi
}

# Skips the calling script unless this boot is of the given mode.
only_on_boot() {
  if [ "$BOOT_MODE" != "$1" ]; then
    echo "($SUITE runs only on the $1 boot; this boot is $BOOT_MODE)"
    exit 0
  fi
}

uptime_s() { cut -d' ' -f1 /proc/uptime; }
section() { echo; echo "##### $SUITE: $* (t=$(uptime_s)s)"; }

# --- labels ---------------------------------------------------------------
pid_label() { tr -d '\0' < "/proc/$1/attr/current" 2>/dev/null; }
label_type() { echo "$1" | cut -d: -f3; }
label_level() { echo "$1" | cut -d: -f4-; }
file_label() { stat -c %C "$1" 2>/dev/null; }
# An MCS pair chosen for a container: s0:cN,cM with N < M.
is_mcs_pair() {
  [[ $1 =~ ^s0:c([0-9]+),c([0-9]+)$ ]] && ((BASH_REMATCH[1] < BASH_REMATCH[2]))
}
# record_ps NAME=PID...: prints and records the `ps -eZ` lines of these
# processes, each followed by the container's name.
record_ps() {
  local pair lines=
  for pair in "$@"; do
    lines+=$(ps -eZ | awk -v pid="${pair#*=}" -v name="${pair%%=*}" \
      'NR > 1 && $2 == pid { print $0 "   (" name ")" }')$'\n'
  done
  echo "$lines"
  while IFS= read -r l; do
    [ -n "$l" ] && printf '%s\t%s\n' "$SUITE" "$l" >> "$MCSRUN_VM_OUT/labels.txt"
  done <<< "$lines"
}

# --- kernel log -----------------------------------------------------------
# AVC denials reach the kernel log (printk, rate-limited) and journald's audit
# socket; avc_since_mark reads both, from a marker written by avc_mark.
avc_mark() {
  AVC_MARK_ID="mcsrun-vm-mark-$SUITE-$RANDOM$RANDOM"
  AVC_MARK_TIME=$(date +%s)
  echo "$AVC_MARK_ID" > /dev/kmsg
}
avc_since_mark() {
  {
    dmesg | sed -n "/$AVC_MARK_ID/,\$p"
    journalctl -q -o short-monotonic _TRANSPORT=audit --since "@$AVC_MARK_TIME" 2>/dev/null
  } | grep -E 'avc: +denied' || true
}
record_avc() { # LINE
  printf '%s\t%s\n' "$SUITE" "$1" >> "$MCSRUN_VM_OUT/avc.txt"
}

# --- images and bundles ---------------------------------------------------
# make_busybox_rootfs DIR: a plain directory with busybox-static and its applets
# (copied from a template made once per boot).
make_busybox_rootfs() {
  local t=$WORK/.busybox-rootfs
  if [ ! -x "$t/bin/busybox" ]; then
    rm -rf "$t"
    mkdir -p "$t/bin" "$t/proc" "$t/dev" "$t/sys" "$t/tmp" "$t/etc"
    cp /bin/busybox "$t/bin/busybox"
    # One process for all ~400 links (a fork per link is slow under emulation).
    /bin/busybox --list | perl -e 'my $d = shift; while (<STDIN>) { chomp; symlink("busybox", "$d/$_") unless -e "$d/$_" }' "$t/bin"
    echo "root:x:0:0:root:/:/bin/sh" > "$t/etc/passwd"
    echo "root:x:0:" > "$t/etc/group"
  fi
  mkdir -p "$(dirname "$1")"
  cp -a "$t" "$1"
}

# write_bundle_config BUNDLE HOSTNAME ARGS_JSON [MOUNTS_JSON]: a runc-style
# config.json without any SELinux label (mcsrun decides them).
write_bundle_config() {
  local bundle=$1 name=$2 args=$3 mounts=${4:-[]}
  jq -n --arg name "$name" --argjson args "$args" --argjson extra "$mounts" '
    ["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE","CAP_DAC_OVERRIDE",
     "CAP_CHOWN","CAP_FOWNER","CAP_SETUID","CAP_SETGID"] as $caps |
    {
      ociVersion: "1.0.2",
      process: {
        terminal: false, user: {uid: 0, gid: 0}, args: $args,
        env: ["PATH=/bin"], cwd: "/",
        capabilities: {bounding: $caps, effective: $caps, permitted: $caps},
        noNewPrivileges: true
      },
      root: {path: "rootfs", readonly: false},
      hostname: $name,
      mounts: ([
        {destination: "/proc", type: "proc", source: "proc"},
        {destination: "/dev", type: "tmpfs", source: "tmpfs",
         options: ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {destination: "/tmp", type: "tmpfs", source: "tmpfs",
         options: ["nosuid", "nodev", "mode=1777"]}
      ] + $extra),
      linux: {
        namespaces: [{type: "pid"}, {type: "ipc"}, {type: "uts"},
                     {type: "mount"}, {type: "network"}],
        maskedPaths: ["/proc/kcore", "/proc/keys", "/sys/firmware"],
        readonlyPaths: ["/proc/sys", "/proc/sysrq-trigger"]
      }
    }' > "$bundle/config.json"
}

# make_docker_archive FILE [TAG [CONFIG]]: a one-layer docker-archive (docker
# save format) of busybox-static, tagged TAG (default local/busybox:latest),
# its image config's "config" extended by the JSON object CONFIG; loadable by
# docker load and ctr images import.
make_docker_archive() {
  local out=$1 tag=${2:-local/busybox:latest} extra=${3:-"{}"} d diff config config_sha
  d=$(mktemp -d)
  make_busybox_rootfs "$d/layer"
  tar -C "$d/layer" -cf "$d/layer.tar" .
  diff=$(sha256sum "$d/layer.tar" | cut -c1-64)
  mkdir -p "$d/archive/$diff"
  mv "$d/layer.tar" "$d/archive/$diff/layer.tar"
  echo 1.0 > "$d/archive/$diff/VERSION"
  config=$(jq -cn --arg diff "sha256:$diff" --argjson extra "$extra" '{
    architecture: "amd64", os: "linux", created: "2024-01-01T00:00:00Z",
    config: ({Env: ["PATH=/bin"], Cmd: ["sh"]} + $extra),
    rootfs: {type: "layers", diff_ids: [$diff]},
    history: [{created: "2024-01-01T00:00:00Z", created_by: "busybox-static"}]}')
  config_sha=$(printf '%s' "$config" | sha256sum | cut -c1-64)
  printf '%s' "$config" > "$d/archive/$config_sha.json"
  jq -cn --arg c "$config_sha.json" --arg l "$diff/layer.tar" --arg tag "$tag" \
    '[{Config: $c, RepoTags: [$tag], Layers: [$l]}]' > "$d/archive/manifest.json"
  tar -C "$d/archive" -cf "$out" .
  rm -rf "$d"
}

# wait_for SECONDS COMMAND...: retries COMMAND every 0.5 s until it succeeds, for
# at most SECONDS of wall time (a slow COMMAND counts against the limit).
wait_for() {
  local limit=$1 start=$SECONDS
  shift
  until "$@"; do
    [ $((SECONDS - start)) -ge "$limit" ] && return 1
    sleep 0.5
  done
}

# --- engines ----------------------------------------------------------------
# Engines are started here, by the harness (unconfined_t), never by systemd:
# as initrc_t their runtime would transition to container_engine_t and be
# denied the engine's own state.

# start_containerd: containerd on /run/containerd/containerd.sock.
start_containerd() {
  setsid containerd > "$MCSRUN_VM_OUT/info/containerd-$SUITE.log" 2>&1 < /dev/null &
  CONTAINERD_PID=$!
  wait_for 180 sh -c 'ctr version > /dev/null 2>&1'
}
stop_containerd() {
  [ -n "${CONTAINERD_PID:-}" ] || return 0
  kill "$CONTAINERD_PID" 2>/dev/null
  wait_for 60 sh -c "! kill -0 $CONTAINERD_PID 2>/dev/null"
}

# start_dockerd [ARGS...]: dockerd with mcsrun as its default runtime, on a
# containerd started here (dockerd's own gives its containerd about ten
# seconds, too short under emulation). DOCKER_EXTRA_RUNTIMES, when set, is
# JSON members added to daemon.json's "runtimes".
start_dockerd() {
  start_containerd || return 1
  mkdir -p /etc/docker
  cat > /etc/docker/daemon.json <<JSON
{"runtimes": {"mcsrun": {"path": "/usr/local/bin/mcsrun"}${DOCKER_EXTRA_RUNTIMES:+, $DOCKER_EXTRA_RUNTIMES}}, "default-runtime": "mcsrun"}
JSON
  setsid dockerd --containerd /run/containerd/containerd.sock \
    --iptables=false --ip6tables=false --bridge=none "$@" \
    > "$MCSRUN_VM_OUT/info/dockerd-$SUITE.log" 2>&1 < /dev/null &
  DOCKERD_PID=$!
  wait_for 180 sh -c 'docker info > /dev/null 2>&1'
}
stop_dockerd() {
  if [ -n "${DOCKERD_PID:-}" ]; then
    kill "$DOCKERD_PID" 2>/dev/null
    wait_for 60 sh -c "! kill -0 $DOCKERD_PID 2>/dev/null"
  fi
  stop_containerd
}
