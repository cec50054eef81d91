#!/bin/bash
# Proves the images of build.sh work, with plain runc: starts a private
# containerd and dockerd (state under $MCSRUN_SMOKE_DIR, default
# /tmp/mcsrun-images-smoke; own sockets, own bridge), loads both archives into
# each engine, runs nginx and postgres, and always tears everything down again.
#
# usage: smoke.sh        (as root; builds the images first if needed)
# Prints PASS/FAIL per check; exits non-zero if any check fails.
# Host ports used: 18080 (nginx, docker -p), 15432 (postgres, docker -p),
# 80 (nginx under ctr --net-host).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
S=${MCSRUN_SMOKE_DIR:-/tmp/mcsrun-images-smoke}
NGINX_HOST_PORT=18080
POSTGRES_HOST_PORT=15432
BRIDGE=mcsimg0
BRIDGE_ADDR=172.31.250.1/24
PG_PASSWORD=smoke-$RANDOM-$RANDOM
PG_DB=smoke
CSOCK=$S/containerd/containerd.sock
DSOCK=$S/docker.sock
# Debian's docker.io client (another `docker` may come first in PATH).
DOCKER=(/usr/bin/docker -H "unix://$DSOCK")
CTR=(ctr -a "$CSOCK" -n default)

[ "$(id -u)" = 0 ] || { echo "smoke: must run as root" >&2; exit 1; }

need=()
for pair in containerd:containerd /usr/bin/docker:docker.io runc:runc psql:postgresql-client \
  curl:curl jq:jq ip:iproute2 ss:iproute2; do
  command -v "${pair%%:*}" > /dev/null || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "smoke: installing ${need[*]}"
  apt-get install -y "${need[@]}" > /dev/null 2>&1 ||
    { apt-get update > /dev/null && apt-get install -y "${need[@]}" > /dev/null; }
fi

images_dir=$("$here/build.sh" | tail -1)
# shellcheck source=/dev/null
. "$images_dir/images.env"

failures=0
now() { echo "${EPOCHREALTIME/./}"; }
since() { # T0 (from now): seconds since T0, one decimal
  local us=$(($(now) - $1))
  printf '%d.%d' $((us / 1000000)) $((us % 1000000 / 100000))
}
pass() { printf 'PASS %s: %s\n' "$1" "$2"; }
fail() {
  printf 'FAIL %s: %s\n' "$1" "$2"
  failures=$((failures + 1))
}
# wait_for SECONDS COMMAND...: retries COMMAND every 0.2 s until it succeeds.
wait_for() {
  local limit=$1 i
  shift
  for ((i = 0; i < limit * 5; i++)); do
    "$@" > /dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}
port_free() { [ -z "$(ss -Htln "sport = :$1")" ]; }
# alive PIDFILE: the process in PIDFILE runs and was started with $S in its command line.
alive() {
  local p
  [ -s "$1" ] && p=$(cat "$1") && [ -r "/proc/$p/cmdline" ] &&
    [[ $(tr '\0' ' ' < "/proc/$p/cmdline") == *"$S"* ]]
}
stop_pidfile() { # PIDFILE: SIGTERM, up to 30 s, then SIGKILL
  local p
  alive "$1" || return 0
  p=$(cat "$1")
  kill -TERM "$p" 2> /dev/null || return 0
  wait_for 30 sh -c "! kill -0 $p" || kill -KILL "$p" 2> /dev/null || true
}

teardown() {
  set +e
  if [ -n "${ctr_run_pid:-}" ] && kill -0 "$ctr_run_pid" 2> /dev/null; then
    "${CTR[@]}" task kill -s SIGKILL smoke-web > /dev/null 2>&1
    wait_for 10 sh -c "! kill -0 $ctr_run_pid" || kill "$ctr_run_pid"
  fi
  if [ -S "$DSOCK" ] && "${DOCKER[@]}" version > /dev/null 2>&1; then
    ids=$("${DOCKER[@]}" ps -aq)
    # shellcheck disable=SC2086 # one argument per id
    [ -z "$ids" ] || "${DOCKER[@]}" rm -f $ids > /dev/null
  fi
  stop_pidfile "$S/docker/dockerd.launch.pid"
  if [ -S "$CSOCK" ] && "${CTR[@]}" version > /dev/null 2>&1; then
    for ns in $(ctr -a "$CSOCK" namespaces ls -q); do
      for c in $(ctr -a "$CSOCK" -n "$ns" task ls -q); do
        ctr -a "$CSOCK" -n "$ns" task kill -s SIGKILL "$c" > /dev/null 2>&1
        wait_for 10 sh -c "ctr -a '$CSOCK' -n '$ns' task ls | grep -q '^$c .*STOPPED'"
        ctr -a "$CSOCK" -n "$ns" task rm -f "$c" > /dev/null 2>&1
      done
      for c in $(ctr -a "$CSOCK" -n "$ns" container ls -q); do
        ctr -a "$CSOCK" -n "$ns" container rm "$c" > /dev/null 2>&1
      done
    done
  fi
  stop_pidfile "$S/containerd/containerd.pid"
  awk -v p="$S/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount "$m" 2> /dev/null || umount -l "$m"; done
  ip link del "$BRIDGE" 2> /dev/null
  rm -rf --one-file-system "$S/docker" "$S/containerd" "$S/runc" "$DSOCK"
}

on_exit() {
  local rc=$1
  teardown
  if [ "$rc" != 0 ] && [ "$failures" = 0 ]; then
    echo "FAIL smoke: stopped early (exit $rc); logs in $S/logs"
  fi
  if [ "$failures" != 0 ]; then
    echo "smoke: $failures check(s) failed; logs in $S/logs"
    exit 1
  fi
  [ "$rc" = 0 ] && echo "smoke: all checks passed"
  exit "$rc"
}

# --- engines ----------------------------------------------------------------
teardown > /dev/null 2>&1 # what a killed run left
mkdir -p "$S/logs" "$S/containerd" "$S/docker/data" "$S/docker/exec" "$S/runc"
trap 'on_exit $?' EXIT
for port in "$NGINX_HOST_PORT" "$POSTGRES_HOST_PORT" 80; do
  port_free "$port" || { fail ports "host port $port is in use"; exit 1; }
done

# docker's default network is a bridge of its own, made here; published ports
# go through docker-proxy, so no iptables rule is needed.
ip link add "$BRIDGE" type bridge
ip addr add "$BRIDGE_ADDR" dev "$BRIDGE"
ip link set "$BRIDGE" up

cat > "$S/containerd/config.toml" << EOF
version = 2
root = "$S/containerd/root"
state = "$S/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CSOCK"
EOF
setsid containerd --config "$S/containerd/config.toml" > "$S/logs/containerd.log" 2>&1 < /dev/null &
echo $! > "$S/containerd/containerd.pid"
if wait_for 30 "${CTR[@]}" version; then
  pass containerd "$(containerd --version | cut -d' ' -f3), private socket $CSOCK"
else
  fail containerd "did not answer in 30 s (log: $S/logs/containerd.log)"
  exit 1
fi

cat > "$S/docker/daemon.json" << EOF
{
  "hosts": ["unix://$DSOCK"],
  "data-root": "$S/docker/data",
  "exec-root": "$S/docker/exec",
  "pidfile": "$S/docker/dockerd.pid",
  "containerd": "$CSOCK",
  "deprecated-key-path": "$S/docker/key.json",
  "storage-driver": "overlay2",
  "bridge": "$BRIDGE",
  "iptables": false, "ip6tables": false, "ip-forward": false, "ip-masq": false,
  "userland-proxy": true,
  "default-runtime": "runc"
}
EOF
setsid /usr/sbin/dockerd --config-file "$S/docker/daemon.json" > "$S/logs/dockerd.log" 2>&1 < /dev/null &
echo $! > "$S/docker/dockerd.launch.pid"
if wait_for 60 "${DOCKER[@]}" version; then
  pass dockerd "$("${DOCKER[@]}" info --format '{{.ServerVersion}} runtime={{.DefaultRuntime}} driver={{.Driver}} cgroup={{.CgroupVersion}}')"
else
  fail dockerd "did not answer in 60 s (log: $S/logs/dockerd.log)"
  exit 1
fi

# --- docker: load -------------------------------------------------------------
for pair in "nginx:$IMG_NGINX_ARCHIVE:$IMG_NGINX_TAG" "postgres:$IMG_POSTGRES_ARCHIVE:$IMG_POSTGRES_TAG"; do
  IFS=: read -r name archive tag <<< "$pair"
  t0=$(now)
  if out=$("${DOCKER[@]}" load -i "$archive" 2>&1) && "${DOCKER[@]}" image inspect "$tag" > /dev/null 2>&1; then
    pass "docker-load-$name" "$tag, $(du -m "$archive" | cut -f1) MB in $(since "$t0")s"
  else
    fail "docker-load-$name" "$out"
  fi
done

# --- docker: nginx ------------------------------------------------------------
web_body() { curl -fsS --max-time 5 "http://127.0.0.1:$NGINX_HOST_PORT/"; }
# (docker run's own warnings, e.g. about IPv4 forwarding, go to docker-run.log.)
if "${DOCKER[@]}" run -d --name web -p "$NGINX_HOST_PORT:80" "$IMG_NGINX_TAG" > /dev/null 2>> "$S/logs/docker-run.log" &&
  wait_for 30 sh -c "curl -fsS --max-time 5 http://127.0.0.1:$NGINX_HOST_PORT/ | grep -qxF '$IMG_NGINX_INDEX_TEXT'"; then
  pass nginx-serves "GET http://127.0.0.1:$NGINX_HOST_PORT/ (-p $NGINX_HOST_PORT:80, bridge $BRIDGE) has the line '$(web_body | grep -xF "$IMG_NGINX_INDEX_TEXT")'"
else
  fail nginx-serves "no index page on port $NGINX_HOST_PORT: $(web_body 2>&1 | tail -3); logs: $("${DOCKER[@]}" logs web 2>&1 | tail -5)"
fi
if wait_for 10 sh -c "/usr/bin/docker -H unix://$DSOCK logs web 2>/dev/null | grep -q '\"GET / HTTP/1.1\" 200'"; then
  pass nginx-access-log "docker logs web: $("${DOCKER[@]}" logs web 2>/dev/null | grep '"GET / HTTP/1.1" 200' | tail -1)"
else
  fail nginx-access-log "no access log line on the container's stdout"
fi

web_pid=$("${DOCKER[@]}" inspect -f '{{.State.Pid}}' web 2>/dev/null || echo 0)
www_uid=$("${DOCKER[@]}" exec web getent passwd "$IMG_NGINX_WORKER_USER" 2>/dev/null | cut -d: -f3)
workers=$(ps -o uid=,pid=,args= --ppid "$web_pid" 2>/dev/null || true)
echo "  docker top web:"
"${DOCKER[@]}" top web -o pid,user,uid,args 2>&1 | sed 's/^/    /'
if [ -n "$www_uid" ] && [ -n "$workers" ] &&
  [ "$(ps -o uid= -p "$web_pid" | tr -d ' ')" = 0 ] &&
  ! awk -v u="$www_uid" '$1 != u || $3 != "nginx:" { bad = 1 } END { exit !bad }' <<< "$workers"; then
  pass nginx-workers "master pid $web_pid as root, $(wc -l <<< "$workers") worker(s) as uid $www_uid ($IMG_NGINX_WORKER_USER in the image)"
else
  fail nginx-workers "master $web_pid, $IMG_NGINX_WORKER_USER uid '${www_uid}', children: ${workers:-none}"
fi

t0=$(now)
"${DOCKER[@]}" stop web > /dev/null
web_exit=$("${DOCKER[@]}" inspect -f '{{.State.ExitCode}}' web)
web_stop=$(since "$t0")
"${DOCKER[@]}" logs web > "$S/logs/web.log" 2>&1
if [ "$web_exit" = 0 ]; then
  pass nginx-stop "docker stop ($IMG_NGINX_STOP_SIGNAL): exit 0 in ${web_stop}s"
else
  fail nginx-stop "docker stop: exit $web_exit after ${web_stop}s"
fi

# --- docker: postgres -----------------------------------------------------------
"${DOCKER[@]}" run -d --name post-nopw "$IMG_POSTGRES_TAG" > /dev/null 2>> "$S/logs/docker-run.log"
rc=$(timeout 60 "${DOCKER[@]}" wait post-nopw || echo timeout)
out=$("${DOCKER[@]}" logs post-nopw 2>&1)
if [ "$rc" != 0 ] && grep -q 'POSTGRES_PASSWORD is not set' <<< "$out"; then
  pass postgres-needs-password "without POSTGRES_PASSWORD: exit $rc, '$(head -1 <<< "$out")'"
else
  fail postgres-needs-password "exit $rc: $out"
fi
"${DOCKER[@]}" rm post-nopw > /dev/null

pg() { # psql from the host through the published port
  PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=5 psql -X -w -v ON_ERROR_STOP=1 -h 127.0.0.1 \
    -p "$POSTGRES_HOST_PORT" -U postgres "$@"
}
"${DOCKER[@]}" run -d --name post-db -e POSTGRES_PASSWORD="$PG_PASSWORD" -e POSTGRES_DB="$PG_DB" \
  -p "$POSTGRES_HOST_PORT:5432" "$IMG_POSTGRES_TAG" > /dev/null 2>> "$S/logs/docker-run.log"
t0=$(now)
if wait_for 60 pg -d "$PG_DB" -Atc 'select 1'; then
  pass postgres-ready "accepts connections on 127.0.0.1:$POSTGRES_HOST_PORT after $(since "$t0")s"
else
  fail postgres-ready "not ready in 60 s; logs: $("${DOCKER[@]}" logs post-db 2>&1 | tail -8)"
fi

if v=$(pg -Atc 'select version()' 2>&1); then
  pass postgres-version "host psql $(psql --version | awk '{print $3}'): $v"
else
  fail postgres-version "$v"
fi
if out=$(PGPASSWORD=wrong-$PG_PASSWORD PGCONNECT_TIMEOUT=5 psql -X -w -h 127.0.0.1 -p "$POSTGRES_HOST_PORT" \
  -U postgres -Atc 'select 1' 2>&1); then
  fail postgres-auth "a wrong password was accepted"
else
  pass postgres-auth "wrong password refused: $(head -1 <<< "$out" | sed 's/^psql: error: //')"
fi
if out=$(pg -d "$PG_DB" -Atc "select current_database(), current_setting('dynamic_shared_memory_type'), current_setting('listen_addresses')" 2>&1) &&
  [ "$out" = "$PG_DB|posix|*" ]; then
  pass postgres-db "POSTGRES_DB=$PG_DB exists; dynamic_shared_memory_type|listen_addresses = ${out#*|}"
else
  fail postgres-db "$out"
fi

plan=$(pg -d "$PG_DB" -At 2>&1 << 'SQL'
CREATE TABLE t AS SELECT g FROM generate_series(1, 200000) AS g;
ANALYZE t;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (ANALYZE) SELECT count(*) FROM t;
SELECT count(*) FROM t;
SQL
) || true
launched=$(grep -o 'Workers Launched: [0-9]*' <<< "$plan" | head -1 | awk '{print $3}')
if [ "${launched:-0}" -ge 1 ] && grep -qx 200000 <<< "$plan"; then
  pass postgres-parallel "EXPLAIN ANALYZE: $(grep -oE 'Workers (Planned|Launched): [0-9]+' <<< "$plan" | paste -sd, | sed 's/,/, /g'); count(*) = 200000"
else
  fail postgres-parallel "$(tr '\n' '|' <<< "$plan")"
fi

if out=$("${DOCKER[@]}" exec post-db psql -U postgres -c 'select 1' 2>&1) && grep -q '(1 row)' <<< "$out"; then
  pass postgres-exec "docker exec post-db psql -U postgres -c 'select 1': $(tr -s ' \n' ' ' <<< "$out")"
else
  fail postgres-exec "$out"
fi

t0=$(now)
"${DOCKER[@]}" restart post-db > /dev/null
if wait_for 60 pg -d "$PG_DB" -Atc 'select 1' && out=$(pg -d "$PG_DB" -Atc 'select count(*) from t' 2>&1) &&
  [ "$out" = 200000 ]; then
  pass postgres-restart "docker restart post-db: serving again after $(since "$t0")s, table t kept (200000 rows), password kept"
else
  fail postgres-restart "after docker restart: $out; logs: $("${DOCKER[@]}" logs post-db 2>&1 | tail -5)"
fi

db_pid=$("${DOCKER[@]}" inspect -f '{{.State.Pid}}' post-db 2>/dev/null || echo 0)
pg_uid=$("${DOCKER[@]}" exec post-db id -u "$IMG_POSTGRES_OS_USER" 2>/dev/null || true)
if [ -n "$pg_uid" ] && [ "$(ps -o uid= -p "$db_pid" | tr -d ' ')" = "$pg_uid" ] &&
  [[ $(ps -o args= -p "$db_pid") == */postgres\ * ]]; then
  pass postgres-user "container pid 1 (host pid $db_pid) is '$(ps -o args= -p "$db_pid")' as uid $pg_uid ($IMG_POSTGRES_OS_USER in the image), $(ps -o pid= --ppid "$db_pid" | wc -l) children"
else
  fail postgres-user "pid $db_pid: $(ps -o uid=,args= -p "$db_pid"), $IMG_POSTGRES_OS_USER uid '$pg_uid'"
fi
db_log=$("${DOCKER[@]}" logs post-db 2>&1)
if grep -q 'database system is ready to accept connections' <<< "$db_log"; then
  pass postgres-log "docker logs post-db: $(grep 'ready to accept connections' <<< "$db_log" | tail -1)"
else
  fail postgres-log "no 'ready to accept connections' in the container's stderr"
fi

t0=$(now)
"${DOCKER[@]}" stop post-db > /dev/null
db_exit=$("${DOCKER[@]}" inspect -f '{{.State.ExitCode}}' post-db)
db_stop=$(since "$t0")
"${DOCKER[@]}" logs post-db > "$S/logs/post-db.log" 2>&1
if [ "$db_exit" = 0 ] && grep -q 'received fast shutdown request' "$S/logs/post-db.log"; then
  pass postgres-stop "docker stop ($IMG_POSTGRES_STOP_SIGNAL): fast shutdown, exit 0 in ${db_stop}s"
else
  fail postgres-stop "docker stop: exit $db_exit after ${db_stop}s"
fi

# Arguments starting with '-' are postgres options.
"${DOCKER[@]}" run -d --name post-trust -e POSTGRES_HOST_AUTH_METHOD=trust "$IMG_POSTGRES_TAG" \
  -c max_connections=42 > /dev/null 2>> "$S/logs/docker-run.log"
trust_ip=$("${DOCKER[@]}" inspect -f '{{.NetworkSettings.IPAddress}}' post-trust)
if wait_for 60 env -u PGPASSWORD psql -X -w -h "$trust_ip" -U postgres -Atc 'select 1' &&
  [ "$(env -u PGPASSWORD psql -X -w -h "$trust_ip" -U postgres -Atc 'show max_connections')" = 42 ]; then
  pass postgres-trust "POSTGRES_HOST_AUTH_METHOD=trust, no password, '-c max_connections=42': host psql -h $trust_ip (bridge address) connects, max_connections = 42"
else
  fail postgres-trust "$("${DOCKER[@]}" logs post-trust 2>&1 | tail -5)"
fi
"${DOCKER[@]}" rm -f post-trust > /dev/null

# --- containerd (ctr) -------------------------------------------------------------
for pair in "nginx:$IMG_NGINX_ARCHIVE:$IMG_NGINX_REF" "postgres:$IMG_POSTGRES_ARCHIVE:$IMG_POSTGRES_REF"; do
  IFS=: read -r name archive ref <<< "$pair"
  if out=$("${CTR[@]}" images import "$archive" 2>&1) && grep -qxF "$ref" <<< "$("${CTR[@]}" images ls -q)"; then
    pass "ctr-import-$name" "$ref"
  else
    fail "ctr-import-$name" "$out"
  fi
done

"${CTR[@]}" run --rm --net-host --runc-root "$S/runc" "$IMG_NGINX_REF" smoke-web \
  > "$S/logs/ctr-run-web.log" 2>&1 < /dev/null &
ctr_run_pid=$!
if wait_for 30 sh -c "curl -fsS --max-time 5 http://127.0.0.1:80/ | grep -qxF '$IMG_NGINX_INDEX_TEXT'"; then
  pass ctr-nginx-serves "ctr run --rm --net-host $IMG_NGINX_REF: GET http://127.0.0.1:80/ has the line '$IMG_NGINX_INDEX_TEXT'"
else
  fail ctr-nginx-serves "no index page on port 80: $(tail -5 "$S/logs/ctr-run-web.log")"
fi
"${CTR[@]}" task kill -s "$IMG_NGINX_STOP_SIGNAL" smoke-web > /dev/null 2>&1 || true
if wait_for 30 sh -c "! kill -0 $ctr_run_pid"; then
  ctr_rc=0
  wait "$ctr_run_pid" || ctr_rc=$?
  if [ "$ctr_rc" = 0 ] && ! grep -qx smoke-web <<< "$("${CTR[@]}" containers ls -q)"; then
    pass ctr-nginx-stop "task kill -s $IMG_NGINX_STOP_SIGNAL: exit 0, container removed (--rm)"
  else
    fail ctr-nginx-stop "ctr run exited $ctr_rc"
  fi
else
  fail ctr-nginx-stop "ctr run still running 30 s after $IMG_NGINX_STOP_SIGNAL"
fi
