# vm-timeout: 2400
# The seed's scenario with real applications, and every docker feature a user
# relies on, side by side in one boot:
#   anchor  dockerd --selinux-enabled, plain runc (docker labels by itself)
#   mcsrun  dockerd WITHOUT --selinux-enabled, default-runtime mcsrun
# Both run the same matrix (check x mode); mcsrun must pass every check the
# anchor passes. Bridge networking with published ports, the nginx and
# PostgreSQL 15 images built from Debian's packages (integration/images/).
. "$(dirname "$0")/lib.sh"
only_on_boot enforcing

MATRIX=$MCSRUN_VM_OUT/matrix.tsv
# shellcheck source=/dev/null
. "$MCSRUN_VM_PAYLOAD/images/images.env"
PG_PASSWORD=mcsrun-secret
export PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=10

# row NAME DETAIL COMMAND...: one cell of the matrix for $MODE, also reported
# as a check of its own.
row() {
  local _row_name=$1 _row_detail=$2 _row_result=FAIL
  shift 2
  if "$@"; then _row_result=PASS; fi
  printf '%s\t%s\t%s\t%s\n' "$_row_name" "$MODE" "$_row_result" \
    "$(printf '%s' "$_row_detail" | tr '\t\n' '  ' | cut -c1-300)" >> "$MATRIX"
  result "$_row_result" "[$MODE] $_row_name" "$_row_detail"
}

# HTTP/1.0 GET of / on 127.0.0.1:PORT with bash's /dev/tcp (busybox-static's wget
# crashes in glibc's static resolver).
http_get() {
  timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3 && cat <&3' _ "$1" 2>&1
}
http_ok() { http_get "$1" | head -n 1 | grep -q " 200 "; }
psql_host() { psql -h 127.0.0.1 -p "$1" -U postgres -d postgres -X -A -t -v ON_ERROR_STOP=1 "${@:2}" 2>&1; }
pg_ready() { psql_host "$1" -c 'select 1' 2>/dev/null | grep -qx 1; }
pid_of() { docker inspect -f '{{.State.Pid}}' "$1" 2>/dev/null; }
# container_state NAME: its status and the last lines it logged, for a check's detail.
container_state() {
  printf '%s; %s' "$(docker inspect -f '{{.State.Status}} exit={{.State.ExitCode}} {{.State.Error}}' "$1" 2>&1)" \
    "$(docker logs --tail 3 "$1" 2>&1 | tr '\n' ' ')"
}
# Every process of container $1 as "pid label user comm" lines (a process that ended
# while being listed, such as a short-lived postgres worker, is left out).
container_procs() {
  local pid label
  for pid in $(docker top "$1" -eo pid 2>/dev/null | tail -n +2); do
    label=$(pid_label "$pid")
    [ -n "$label" ] || continue
    printf '%s %s %s %s\n' "$pid" "$label" \
      "$(ps -o user= -p "$pid" 2>/dev/null)" "$(ps -o comm= -p "$pid" 2>/dev/null)"
  done
}
# all_at CONTAINER LABEL: every process of CONTAINER runs at LABEL (and there is one).
all_at() {
  local procs
  procs=$(container_procs "$1")
  [ -n "$procs" ] && [ -n "$2" ] && ! awk -v want="$2" '$2 != want { bad = 1 } END { exit !bad }' <<< "$procs"
}

# start_dockerd_as MODE: dockerd for this mode on a containerd started here,
# with docker's default bridge network and iptables.
start_dockerd_as() {
  start_containerd || return 1
  mkdir -p /etc/docker
  case $1 in
    anchor) echo '{"selinux-enabled": true}' > /etc/docker/daemon.json ;;
    mcsrun) echo '{"runtimes": {"mcsrun": {"path": "/usr/local/bin/mcsrun"}}, "default-runtime": "mcsrun"}' > /etc/docker/daemon.json ;;
  esac
  setsid dockerd --containerd /run/containerd/containerd.sock \
    > "$MCSRUN_VM_OUT/info/dockerd-$SUITE-$1.log" 2>&1 < /dev/null &
  DOCKERD_PID=$!
  wait_for 240 sh -c 'docker info > /dev/null 2>&1'
}

section "images"
restorecon -R /var/lib/docker 2>/dev/null
MODE=setup
if ! start_dockerd_as mcsrun; then
  fail "dockerd starts" "$(tail -n 3 "$MCSRUN_VM_OUT/info/dockerd-$SUITE-mcsrun.log")"
  stop_dockerd
  exit 0
fi
t0=$(date +%s)
for dev in $IMAGE_DEVICES; do docker load -i "$dev"; done
check "nginx and postgres images load" "$(docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | tr '\n' ' ') in $(($(date +%s) - t0))s" \
  eval 'docker image inspect "$IMG_NGINX_TAG" "$IMG_POSTGRES_TAG" > /dev/null'
stop_dockerd
restorecon -R /var/lib/docker 2>/dev/null
ls -Zd /var/lib/docker/overlay2 /var/lib/docker/containers /var/lib/docker/volumes 2>&1

# The matrix, once per mode.
scenario() {
  MODE=$1
  section "$MODE: dockerd"
  if ! start_dockerd_as "$MODE"; then
    row "dockerd starts" "$(tail -n 3 "$MCSRUN_VM_OUT/info/dockerd-$SUITE-$MODE.log")" false
    stop_dockerd
    return
  fi
  docker info --format "security: {{.SecurityOptions}} default runtime: {{.DefaultRuntime}}"

  section "$MODE: the seed's containers"
  docker rm -f nginx01 post-db > /dev/null 2>&1
  timeout 180 docker run --name nginx01 -d -p 80:80 "$IMG_NGINX_TAG" > /dev/null 2>&1
  wait_for 120 http_ok 80
  row "docker run -d -p 80:80 nginx01" "$(container_state nginx01)" http_ok 80
  timeout 180 docker run --name post-db -p 5432:5432 -e POSTGRES_PASSWORD="$PG_PASSWORD" -d "$IMG_POSTGRES_TAG" > /dev/null 2>&1
  wait_for 240 pg_ready 5432
  row "docker run -d -p 5432:5432 -e POSTGRES_PASSWORD post-db" "$(container_state post-db)" pg_ready 5432

  page=$(http_get 80)
  row "HTTP GET through the published port returns the page" "$(echo "$page" | head -c 120)" \
    grep -qF "$IMG_NGINX_INDEX_TEXT" <<< "$page"
  out=$(psql_host 5432 -c 'select version()')
  row "SQL through the published port" "$out" grep -q '^PostgreSQL 15' <<< "$out"
  out=$(psql_host 5432 -c 'create table seed as select g as i from generate_series(1, 200000) g' \
    -c 'set max_parallel_workers_per_gather = 2' -c 'set parallel_setup_cost = 0' \
    -c 'set parallel_tuple_cost = 0' -c 'set min_parallel_table_scan_size = 0' \
    -c 'explain (analyze, costs off) select count(*) from seed')
  row "parallel query (dynamic shared memory in /dev/shm)" "$(grep -E 'Workers (Planned|Launched)' <<< "$out" | tr -s ' ' | tr '\n' ';')" \
    eval 'grep -qE "Workers Launched: [1-9]" <<< "$out"'

  label_n=$(pid_label "$(pid_of nginx01)"); level_n=$(label_level "$label_n")
  label_p=$(pid_label "$(pid_of post-db)"); level_p=$(label_level "$label_p")
  procs_n=$(container_procs nginx01); procs_p=$(container_procs post-db)
  echo "$procs_n"; echo "$procs_p"
  {
    echo "## $MODE: ps -eZ | grep -E 'nginx|postgres'"
    ps -eZ | grep -E 'nginx|postgres'
  } >> "$MCSRUN_VM_OUT/info/seed-ps.txt"
  # The seed's view: every nginx and postgres process, with its container.
  for c in nginx01 post-db; do
    for pid in $(docker top "$c" -eo pid 2>/dev/null | tail -n +2); do
      ps -eZ | awk -v pid="$pid" -v tag="$MODE $c" 'NR > 1 && $2 == pid { print $0 "   (" tag ")" }'
    done
  done | while IFS= read -r l; do printf '%s\t%s\n' "$SUITE" "$l" >> "$MCSRUN_VM_OUT/labels.txt"; done
  row "every nginx01 process is container_t at nginx01's pair" "$label_n: $(echo "$procs_n" | awk '{print $4 "=" $2}' | sort | uniq -c | tr -s ' ' | tr '\n' ';')" \
    eval '[ "$(label_type "$label_n")" = container_t ] && is_mcs_pair "$level_n" && all_at nginx01 "$label_n"'
  row "every post-db process is container_t at post-db's pair" "$label_p: $(echo "$procs_p" | awk '{print $4 "=" $2}' | sort | uniq -c | tr -s ' ' | tr '\n' ';')" \
    eval '[ "$(label_type "$label_p")" = container_t ] && is_mcs_pair "$level_p" && all_at post-db "$label_p"'
  row "nginx01 and post-db have different pairs" "nginx01=$level_n post-db=$level_p" \
    eval '[ -n "$level_n" ] && [ "$level_n" != "$level_p" ]'
  row "nginx workers run as www-data" "$(echo "$procs_n" | awk '{print $3 "/" $4}' | tr '\n' ' ')" \
    eval 'awk "\$3 == \"www-data\"" <<< "$procs_n" | grep -q nginx'

  section "$MODE: docker exec, cp, users"
  out=$(timeout 60 docker exec nginx01 cat /proc/self/attr/current 2>&1 | tr -d '\0')
  row "docker exec lands at the container's label" "exec: $out; container: $label_n" test "$out" = "$label_n"
  out=$(timeout 60 docker exec -u www-data nginx01 sh -c 'id -un; cat /proc/self/attr/current' 2>&1 | tr -d '\0')
  row "docker exec -u www-data" "$out" eval 'grep -qx www-data <<< "$out" && grep -qxF "$label_n" <<< "$out"'
  out=$(timeout 60 docker exec post-db psql -U postgres -X -A -t -c 'select count(*) from seed' 2>&1)
  row "docker exec post-db psql over the unix socket" "$out" grep -qx 200000 <<< "$out"
  echo "copied in ($MODE)" > "$WORK/cp-in.txt"
  rm -f "$WORK/cp-out.conf"
  out=$( { timeout 60 docker cp "$WORK/cp-in.txt" nginx01:/tmp/cp-in.txt &&
           timeout 60 docker exec nginx01 cat /tmp/cp-in.txt &&
           timeout 60 docker cp nginx01:/etc/nginx/nginx.conf "$WORK/cp-out.conf" &&
           grep -m1 '^user' "$WORK/cp-out.conf"; } 2>&1)
  row "docker cp in and out" "$out" eval 'grep -q "copied in ($MODE)" <<< "$out" && grep -q "^user www-data" <<< "$out"'
  out=$(timeout 120 docker run --rm -u 1000 "$IMG_NGINX_TAG" sh -c 'id -u; echo x > /tmp/u && cat /tmp/u; cat /proc/self/attr/current' 2>&1 | tr -d '\0')
  row "a non-root -u 1000 container" "$out" eval 'grep -qx 1000 <<< "$out" && grep -qx x <<< "$out"'

  section "$MODE: the files docker makes, tmpfs, read-only roots"
  out=$(timeout 120 docker run --rm "$IMG_NGINX_TAG" sh -c 'cat /etc/hosts /etc/hostname /etc/resolv.conf > /dev/null && echo read-ok; ls -Z /etc/hosts' 2>&1)
  row "/etc/hosts, /etc/hostname, /etc/resolv.conf readable" "$out" grep -qx read-ok <<< "$out"
  out=$(timeout 120 docker run --rm "$IMG_NGINX_TAG" sh -c 'echo shm > /dev/shm/f && cat /dev/shm/f' 2>&1)
  row "/dev/shm writable" "$out" grep -qx shm <<< "$out"
  out=$(timeout 120 docker run --rm --tmpfs /scratch "$IMG_NGINX_TAG" sh -c 'echo t > /scratch/f && cat /scratch/f' 2>&1)
  row "--tmpfs /scratch writable" "$out" grep -qx t <<< "$out"
  out=$(timeout 120 docker run --rm --read-only "$IMG_NGINX_TAG" sh -c 'cat /etc/debian_version; touch /x 2>/dev/null && echo wrote || echo read-only' 2>&1)
  row "--read-only runs, its root read-only" "$out" eval 'grep -qx read-only <<< "$out" && grep -qE "^[0-9]+\." <<< "$out"'
  docker rm -f ro-nginx > /dev/null 2>&1
  timeout 120 docker run -d --name ro-nginx --read-only --tmpfs /run --tmpfs /var/lib/nginx -p 8081:80 "$IMG_NGINX_TAG" > /dev/null 2>&1
  wait_for 60 http_ok 8081
  page=$(http_get 8081)
  row "nginx with --read-only serves" "$(echo "$page" | head -c 80) $(docker logs --tail 2 ro-nginx 2>&1)" grep -qF "$IMG_NGINX_INDEX_TEXT" <<< "$page"
  docker rm -f ro-nginx > /dev/null 2>&1

  section "$MODE: volumes"
  docker volume rm -f "appvol-$MODE" > /dev/null 2>&1
  out=$( { timeout 120 docker run --rm -v "appvol-$MODE:/data" "$IMG_NGINX_TAG" sh -c 'echo v > /data/f && cat /data/f' &&
           timeout 120 docker run --rm -v "appvol-$MODE:/data" "$IMG_NGINX_TAG" cat /data/f; } 2>&1)
  row "named volume: written by one container, read by the next" "$out" eval '[ "$(grep -cx v <<< "$out")" = 2 ]'
  for d in plain z Z mount; do
    rm -rf "/srv/$MODE-$d"; mkdir -p "/srv/$MODE-$d"; echo "$d" > "/srv/$MODE-$d/f"
  done
  restorecon -R /srv
  before=$(file_label "/srv/$MODE-plain")
  out=$(timeout 120 docker run --rm -v "/srv/$MODE-plain:/data" "$IMG_NGINX_TAG" cat /data/f 2>&1)
  after=$(file_label "/srv/$MODE-plain")
  row "-v SRC:DST leaves the host dir's label alone (and is denied)" "$before -> $after; $out" \
    eval '[ "$before" = "$after" ] && grep -q "Permission denied" <<< "$out"'
  out=$(timeout 120 docker run --rm -v "/srv/$MODE-z:/data:z" "$IMG_NGINX_TAG" sh -c 'cat /data/f && echo w > /data/w && echo wrote' 2>&1)
  got=$(file_label "/srv/$MODE-z")
  row "-v SRC:DST:z is shared (s0) and usable" "$got; $out" \
    eval '[ "$got" = "system_u:object_r:container_file_t:s0" ] && grep -qx wrote <<< "$out"'
  out=$(timeout 120 docker run --rm -v "/srv/$MODE-Z:/data:Z" "$IMG_NGINX_TAG" sh -c 'cat /data/f; cat /proc/self/attr/current' 2>&1 | tr -d '\0')
  got=$(file_label "/srv/$MODE-Z")
  other=$(timeout 120 docker run --rm -v "/srv/$MODE-Z:/data" "$IMG_NGINX_TAG" cat /data/f 2>&1)
  row "-v SRC:DST:Z is private: its level on the dir, others denied" "$got; own: $out; other: $other" \
    eval 'grep -qx Z <<< "$out" && [ "$(label_level "$got")" = "$(label_level "$(tail -n 1 <<< "$out")")" ] &&
          is_mcs_pair "$(label_level "$got")" && grep -q "Permission denied" <<< "$other"'
  chcon -R -t container_file_t -l s0 "/srv/$MODE-mount"
  out=$(timeout 120 docker run --rm --mount "type=bind,src=/srv/$MODE-mount,dst=/data" "$IMG_NGINX_TAG" cat /data/f 2>&1)
  got=$(file_label "/srv/$MODE-mount")
  row "--mount type=bind of a container_file_t:s0 dir, label kept" "$got; $out" \
    eval 'grep -qx mount <<< "$out" && [ "$got" = "system_u:object_r:container_file_t:s0" ]'

  section "$MODE: --security-opt label="
  out=$(timeout 120 docker run --rm --security-opt label=level:s0:c100,c200 "$IMG_NGINX_TAG" cat /proc/self/attr/current 2>&1 | tr -d '\0')
  row "--security-opt label=level:s0:c100,c200" "$out" test "$out" = "system_u:system_r:container_t:s0:c100,c200"
  out=$(timeout 120 docker run --rm --security-opt label=disable "$IMG_NGINX_TAG" cat /proc/self/attr/current 2>&1 | tr -d '\0')
  row "--security-opt label=disable runs unconfined by container_t" "$out" \
    eval '[ -n "$out" ] && [ "$(label_type "$out")" != container_t ] && ! grep -qi denied <<< "$out"'
  out=$(timeout 120 docker run --rm "$IMG_NGINX_TAG" cat /proc/self/attr/current 2>&1 | tr -d '\0')
  row "a container started while levels are held gets a pair of its own" "$out (held: $level_n $level_p)" \
    eval 'is_mcs_pair "$(label_level "$out")" && [ "$(label_level "$out")" != "$level_n" ] && [ "$(label_level "$out")" != "$level_p" ]'

  section "$MODE: isolation"
  merged_p=$(docker inspect -f '{{.GraphDriver.Data.MergedDir}}' post-db)
  avc_mark
  # A file of the data directory, bound by itself: the policy does not audit denied
  # directory searches, a denied file read it does.
  out=$(timeout 120 docker run --rm --security-opt "label=level:$level_n" \
    -v "$merged_p$IMG_POSTGRES_DATA/PG_VERSION:/pg/PG_VERSION:ro" "$IMG_NGINX_TAG" sh -c 'cat /proc/self/attr/current; echo; cat /pg/PG_VERSION' 2>&1 | tr -d '\0')
  sleep 1
  avc=$(avc_since_mark | grep -F "scontext=system_u:system_r:container_t:$level_n " | grep -F "tcontext=system_u:object_r:container_file_t:$level_p " | head -1)
  [ -n "$avc" ] && record_avc "$MODE: $avc"
  row "a process at nginx01's level is denied post-db's data (AVC)" "$out | avc: ${avc:-none}" \
    eval 'grep -qF "$level_n" <<< "$out" && grep -q "Permission denied" <<< "$out" && ! grep -qx 15 <<< "$out" && [ -n "$avc" ]'

  section "$MODE: restart, stop/start"
  timeout 180 docker restart nginx01 > /dev/null 2>&1
  wait_for 120 http_ok 80
  page=$(http_get 80); label=$(pid_label "$(pid_of nginx01)")
  row "docker restart nginx01 keeps serving, labelled" "$label: $(echo "$page" | head -c 60)" \
    eval 'grep -qF "$IMG_NGINX_INDEX_TEXT" <<< "$page" && [ "$(label_type "$label")" = container_t ] && is_mcs_pair "$(label_level "$label")"'
  timeout 180 docker stop post-db > /dev/null 2>&1
  timeout 180 docker start post-db > /dev/null 2>&1
  wait_for 240 pg_ready 5432
  out=$(psql_host 5432 -c 'select count(*) from seed'); label=$(pid_label "$(pid_of post-db)")
  row "docker stop/start post-db keeps its data and serves" "$label: $out" \
    eval 'grep -qx 200000 <<< "$out" && all_at post-db "$label" && [ "$(label_type "$label")" = container_t ]'

  if [ "$MODE" = mcsrun ]; then
    section "mcsrun: the seed's problem, through plain runc"
    docker rm -f nginx-runc post-db-runc > /dev/null 2>&1
    timeout 180 docker run --runtime runc --name nginx-runc -d "$IMG_NGINX_TAG" > /dev/null 2>&1
    timeout 180 docker run --runtime runc --name post-db-runc -e POSTGRES_PASSWORD="$PG_PASSWORD" -d "$IMG_POSTGRES_TAG" > /dev/null 2>&1
    for c in nginx-runc post-db-runc; do
      ps -eZ | awk -v pid="$(pid_of "$c")" -v tag="runc $c" 'NR > 1 && $2 == pid { print $0 "   (" tag ")" }'
    done | while IFS= read -r l; do printf '%s\t%s\n' "$SUITE" "$l" >> "$MCSRUN_VM_OUT/labels.txt"; done
    label_rn=$(pid_label "$(pid_of nginx-runc)")
    label_rp=$(pid_label "$(pid_of post-db-runc)")
    merged_rp=$(docker inspect -f '{{.GraphDriver.Data.MergedDir}}' post-db-runc)
    out=$(timeout 120 docker run --rm --runtime runc -v "$merged_rp$IMG_POSTGRES_DATA/PG_VERSION:/pg/PG_VERSION:ro" "$IMG_NGINX_TAG" sh -c 'cat /proc/self/attr/current; echo; cat /pg/PG_VERSION' 2>&1 | tr -d '\0')
    check "seed: through plain runc nginx and postgres share one domain and level" "nginx-runc=$label_rn post-db-runc=$label_rp" \
      eval '[ -n "$label_rn" ] && [ "$label_rn" = "$label_rp" ] && [ "$(label_type "$label_rn")" != container_t ]'
    check "seed: through plain runc the same read of postgres' data succeeds" "$out" grep -qx 15 <<< "$out"
    docker rm -f nginx-runc post-db-runc > /dev/null 2>&1
  fi

  section "$MODE: docker rm"
  # The levels they hold now (post-db got a new pair at its start; nginx01 kept its
  # own through the restart, its rootfs still mounted with it).
  level_n=$(label_level "$(pid_label "$(pid_of nginx01)")")
  level_p=$(label_level "$(pid_label "$(pid_of post-db)")")
  held_before=$(mcsctl list 2>&1)
  timeout 180 docker rm -f nginx01 post-db > /dev/null 2>&1
  docker volume rm -f "appvol-$MODE" > /dev/null 2>&1
  if [ "$MODE" = mcsrun ]; then
    held_after=$(mcsctl list --json 2>&1)
    echo "$held_before" > "$MCSRUN_VM_OUT/info/mcsctl-list-apps.txt"
    check "docker rm releases both levels" "before: $(echo "$held_before" | tr -s ' ' | tr '\n' ';') after: $held_after" \
      eval 'grep -qF "$level_n" <<< "$held_before" && grep -qF "$level_p" <<< "$held_before" &&
            ! grep -qF "\"$level_n\"" <<< "$held_after" && ! grep -qF "\"$level_p\"" <<< "$held_after"'
  fi
  stop_dockerd
}

scenario anchor
scenario mcsrun

section "the matrix: mcsrun against the anchor"
printf '%-68s %-7s %-7s\n' check anchor mcsrun | tee "$MCSRUN_VM_OUT/info/matrix.txt"
missing=0
while IFS= read -r name; do
  a=$(awk -F'\t' -v n="$name" '$1 == n && $2 == "anchor" { print $3 }' "$MATRIX")
  m=$(awk -F'\t' -v n="$name" '$1 == n && $2 == "mcsrun" { print $3 }' "$MATRIX")
  printf '%-68s %-7s %-7s\n' "$name" "${a:--}" "${m:--}" | tee -a "$MCSRUN_VM_OUT/info/matrix.txt"
  if [ "$a" = PASS ] && [ "$m" != PASS ]; then missing=$((missing + 1)); fi
done < <(cut -f1 "$MATRIX" | awk '!seen[$0]++')
check "mcsrun passes every check the anchor passes" "$missing check(s) pass under the anchor only" test "$missing" = 0
true
