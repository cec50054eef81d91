#!/bin/bash
# Builds the application images of the tests from Debian's packages, without a
# registry: two one-layer docker-archive tarballs (the `docker save` layout),
# loadable by `docker load -i` and `ctr images import`:
#
#   nginx.tar     mcsrun-test/nginx:latest   nginx -g 'daemon off;' (workers as www-data)
#   postgres.tar  mcsrun-test/postgres:15    /usr/local/bin/mcsrun-test-postgres postgres
#
# The images are cached under $MCSRUN_IMAGES_DIR/images-<key>, where <key>
# hashes every input (this script, mcsrun-test-postgres, the package lists, the
# mirror, the suite, the architecture); a rerun with the same inputs only
# prints the directory. MCSRUN_IMAGES_REBUILD=1 forces a build.
# MCSRUN_IMAGES_JOBS=1 builds the two images one after the other (default 2:
# in parallel).
#
# usage: build.sh          build if needed; last line of output = images dir
#        build.sh --dir    print the images dir for the current inputs only
# Output files: nginx.tar, postgres.tar, images.env (shell variables for the
# tests), packages-<image>.txt, sizes.txt, timing.txt, build-<image>.log, complete.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
MCSRUN_IMAGES_DIR=${MCSRUN_IMAGES_DIR:-/var/tmp/mcsrun-images}
jobs=${MCSRUN_IMAGES_JOBS:-2}
SUITE=bookworm
if [ -z "${MIRROR:-}" ]; then
  MIRROR=http://deb.debian.org/debian
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    MIRROR=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
  fi
fi
ARCH=$(dpkg --print-architecture)

# Creation time of both images, and the latest mtime of any file in them.
SOURCE_DATE_EPOCH=1704067200
CREATED=2024-01-01T00:00:00Z
export SOURCE_DATE_EPOCH

NGINX_TAG=mcsrun-test/nginx:latest
NGINX_INDEX_TEXT='mcsrun-test nginx'
NGINX_INDEX_PATH=/var/www/html/index.html
POSTGRES_TAG=mcsrun-test/postgres:15
POSTGRES_ENTRYPOINT=/usr/local/bin/mcsrun-test-postgres
nginx_packages=(nginx)
postgres_packages=(postgresql-15)
# dpkg excludes for every image: documentation, man pages, translations.
common_excludes=('/usr/share/doc/*' '/usr/share/man/*' '/usr/share/info/*' '/usr/share/locale/*'
  '/usr/share/lintian/*')
nginx_excludes=()
# LLVM (and z3, which only LLVM uses) is there for JIT compilation alone: a
# third of the image. Without llvmjit.so the server has no JIT (jit = off).
postgres_excludes=('/usr/lib/*/libLLVM-14.so*' '/usr/lib/*/libz3.so*'
  '/usr/lib/postgresql/15/lib/llvmjit*' '/usr/lib/postgresql/15/lib/bitcode/*')

key=$( {
  cat "$here/build.sh"
  echo "== mcsrun-test-postgres"
  cat "$here/mcsrun-test-postgres"
  echo "$MIRROR $SUITE $ARCH nginx: ${nginx_packages[*]} postgres: ${postgres_packages[*]}"
  echo "excludes: ${common_excludes[*]} nginx: ${nginx_excludes[*]} postgres: ${postgres_excludes[*]}"
} | sha256sum | cut -c1-16)
images_dir=$MCSRUN_IMAGES_DIR/images-$key

if [ "${1:-}" = --dir ]; then echo "$images_dir"; exit 0; fi
[ $# -eq 0 ] || { echo "usage: $0 [--dir]" >&2; exit 2; }

cached() { [ -f "$images_dir/complete" ] && [ "${MCSRUN_IMAGES_REBUILD:-0}" != 1 ]; }
if cached; then
  echo "images: reusing $images_dir"
  echo "$images_dir"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "images: must run as root (mmdebstrap --mode=root)" >&2; exit 1; }

mkdir -p "$MCSRUN_IMAGES_DIR"
# One build at a time; a build that finished while this one waited is reused.
exec 9> "$MCSRUN_IMAGES_DIR/.lock"
flock 9
if cached; then
  echo "images: reusing $images_dir"
  echo "$images_dir"
  exit 0
fi

if ! command -v mmdebstrap > /dev/null; then
  echo "images: installing mmdebstrap"
  apt-get install -y mmdebstrap > /dev/null 2>&1 ||
    { apt-get update > /dev/null && apt-get install -y mmdebstrap > /dev/null; }
fi

work=$MCSRUN_IMAGES_DIR/work
# Removes a work tree, first unmounting whatever a killed mmdebstrap left there.
remove_tree() {
  [ -e "$1" ] || return 0
  awk -v p="$1/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount "$m" 2> /dev/null || umount -l "$m"; done
  rm -rf --one-file-system "$1"
}
trap 'remove_tree "$work"' EXIT
# Interrupted (Ctrl-C or a signal to the process group, which reaches
# mmdebstrap too): let the jobs end, then the EXIT trap unmounts what
# mmdebstrap left mounted and removes the work tree. No `complete`: not cached.
trap 'trap "" INT TERM; wait; exit 130' INT
trap 'trap "" INT TERM; wait; exit 143' TERM
remove_tree "$work"
rm -rf "$images_dir"
mkdir -p "$images_dir" "$work"
echo "images: building $images_dir (mirror $MIRROR, suite $SUITE, jobs $jobs)"

# build_rootfs NAME: Debian minbase plus NAME_packages in $work/NAME/rootfs,
# without the files of common_excludes and NAME_excludes (copyright files kept).
# Downloaded packages are kept in $MCSRUN_IMAGES_DIR/debs-NAME for the next build.
build_rootfs() {
  local name=$1 debs=$MCSRUN_IMAGES_DIR/debs-$1 p
  local -n packages=${name}_packages excludes=${name}_excludes
  local opts=()
  for p in "${common_excludes[@]}" "${excludes[@]}"; do opts+=("--dpkgopt=path-exclude=$p"); done
  opts+=('--dpkgopt=path-include=/usr/share/doc/*/copyright')
  mkdir -p "$debs" "$work/$name"
  # Merged /usr through the directory symlinks and usr-is-merged (usrmerge
  # would pull in perl).
  # shellcheck disable=SC2016 # "$1" of a hook is expanded by mmdebstrap
  mmdebstrap --mode=root --variant=minbase --format=directory \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --skip=essential/unlink \
    --aptopt='APT::Install-Recommends "false"' \
    "${opts[@]}" \
    --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
    --setup-hook="sync-in $debs /var/cache/apt/archives/" \
    --customize-hook="sync-out /var/cache/apt/archives $debs" \
    --include="$(IFS=,; echo "${packages[*]}")" \
    "$SUITE" "$work/$name/rootfs" "$MIRROR"
}

# slim ROOT: removes what a container never needs and what only says when the
# image was built.
slim() {
  local r=$1
  rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin \
    "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old \
    "$r"/var/cache/ldconfig/aux-cache "$r"/var/log/apt/* "$r"/tmp/* "$r"/var/tmp/*
  find "$r/var/log" -type f -delete
  # The engines provide these at run time (/dev is a tmpfs with its own nodes).
  find "$r/dev" -xdev -mindepth 1 -delete
  : > "$r/etc/hostname"
  chmod 644 "$r/etc/hostname"
  rm -f "$r/etc/resolv.conf"
  printf '%s\n' '127.0.0.1 localhost' '::1 localhost ip6-localhost ip6-loopback' > "$r/etc/hosts"
}

customize_nginx() {
  local r=$1
  grep -q '^user www-data;' "$r/etc/nginx/nginx.conf" ||
    { echo "images: nginx.conf does not run the workers as www-data" >&2; return 1; }
  printf '%s\n' '<!DOCTYPE html>' "<html><head><title>$NGINX_INDEX_TEXT</title></head><body>" \
    "$NGINX_INDEX_TEXT" '</body></html>' > "$r$NGINX_INDEX_PATH"
  chmod 644 "$r$NGINX_INDEX_PATH"
  # Logs to the container's stdout / stderr (nginx opens them before dropping root).
  ln -sf /dev/stdout "$r/var/log/nginx/access.log"
  ln -sf /dev/stderr "$r/var/log/nginx/error.log"
}

customize_postgres() {
  local r=$1 etc=$1/etc/postgresql/15/main
  [ -f "$r/var/lib/postgresql/15/main/PG_VERSION" ] ||
    { echo "images: the package scripts created no cluster 15/main" >&2; return 1; }
  cat > "$etc/conf.d/mcsrun-test.conf" << 'EOF'
# mcsrun-test/postgres:15: a server for containers (read after postgresql.conf).
listen_addresses = '*'
port = 5432
# No certificate is shipped in the image.
ssl = off
# Logs go to stderr, i.e. the container's log.
log_destination = 'stderr'
logging_collector = off
# Parallel workers share memory through /dev/shm.
dynamic_shared_memory_type = posix
# The image has no LLVM.
jit = off
EOF
  chroot "$r" chown postgres:postgres /etc/postgresql/15/main/conf.d/mcsrun-test.conf
  # The snakeoil key made by ssl-cert at build time would be the same in every container.
  rm -f "$r/etc/ssl/private/ssl-cert-snakeoil.key" "$r/etc/ssl/certs/ssl-cert-snakeoil.pem"
  find "$r/etc/ssl/certs" -xtype l -delete
  # The unix socket directory, as Debian's tmpfiles.d makes it.
  mkdir -p "$r/run/postgresql"
  chroot "$r" chown postgres:postgres /run/postgresql
  chmod 2775 "$r/run/postgresql"
  install -m 755 "$here/mcsrun-test-postgres" "$r$POSTGRES_ENTRYPOINT"
}

# pack NAME TAG CONFIG_JSON: $work/NAME/rootfs as a one-layer docker-archive
# $images_dir/NAME.tar. CONFIG_JSON is the image's "config" object.
pack() {
  local name=$1 tag=$2 runconfig=$3 d=$work/$1 diff config config_sha
  local -n pkgs=${name}_packages
  local tar_repro=(--sort=name --format=posix
    '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime'
    --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime --numeric-owner)
  tar "${tar_repro[@]}" -C "$d/rootfs" -cf "$d/layer.tar" .
  diff=$(sha256sum "$d/layer.tar" | cut -c1-64)
  mkdir -p "$d/archive/$diff"
  mv "$d/layer.tar" "$d/archive/$diff/layer.tar"
  echo 1.0 > "$d/archive/$diff/VERSION"
  config=$(jq -cn --arg diff "sha256:$diff" --arg created "$CREATED" --arg arch "$ARCH" \
    --argjson config "$runconfig" --arg by "mmdebstrap --variant=minbase --include=$(IFS=,; echo "${pkgs[*]}") $SUITE" '{
      architecture: $arch, os: "linux", created: $created, config: $config,
      rootfs: {type: "layers", diff_ids: [$diff]},
      history: [{created: $created, created_by: $by}]}')
  config_sha=$(printf '%s' "$config" | sha256sum | cut -c1-64)
  printf '%s' "$config" > "$d/archive/$config_sha.json"
  jq -cn --arg c "$config_sha.json" --arg t "$tag" --arg l "$diff/layer.tar" \
    '[{Config: $c, RepoTags: [$t], Layers: [$l]}]' > "$d/archive/manifest.json"
  tar "${tar_repro[@]}" --owner=0 --group=0 -C "$d/archive" \
    -cf "$images_dir/$name.tar.part" manifest.json "$config_sha.json" "$diff"
  mv "$images_dir/$name.tar.part" "$images_dir/$name.tar"
  echo "$name image_id=sha256:$config_sha layer=sha256:$diff" >> "$images_dir/ids.txt"
}

pkg_version() { # ROOT PACKAGE
  dpkg-query --admindir="$1/var/lib/dpkg" -W -f='${Version}' "$2"
}

build_nginx() {
  local t0 t1 r=$work/nginx/rootfs version config
  t0=$(date +%s)
  build_rootfs nginx
  customize_nginx "$r"
  slim "$r"
  t1=$(date +%s)
  version=$(pkg_version "$r" nginx)
  config=$(jq -cn --arg v "$version" '{
    Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    Cmd: ["nginx", "-g", "daemon off;"],
    WorkingDir: "/",
    ExposedPorts: {"80/tcp": {}},
    StopSignal: "SIGQUIT",
    Labels: {"org.opencontainers.image.title": "mcsrun-test nginx",
             "org.opencontainers.image.version": $v}}')
  pack nginx "$NGINX_TAG" "$config"
  pkg_list "$r" > "$images_dir/packages-nginx.txt"
  echo "nginx: rootfs $(du -sm "$r" | cut -f1) MB, mmdebstrap+customize=$((t1 - t0))s pack=$(($(date +%s) - t1))s" \
    > "$work/nginx/summary"
  echo "$version" > "$work/nginx/version"
}

build_postgres() {
  local t0 t1 r=$work/postgres/rootfs version config
  t0=$(date +%s)
  build_rootfs postgres
  customize_postgres "$r"
  slim "$r"
  t1=$(date +%s)
  version=$(pkg_version "$r" postgresql-15)
  config=$(jq -cn --arg v "$version" --arg ep "$POSTGRES_ENTRYPOINT" '{
    Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/15/bin",
          "LANG=C.UTF-8", "PGDATA=/var/lib/postgresql/15/main"],
    Entrypoint: [$ep],
    Cmd: ["postgres"],
    User: "postgres",
    WorkingDir: "/",
    ExposedPorts: {"5432/tcp": {}},
    StopSignal: "SIGINT",
    Labels: {"org.opencontainers.image.title": "mcsrun-test postgres",
             "org.opencontainers.image.version": $v}}')
  pack postgres "$POSTGRES_TAG" "$config"
  pkg_list "$r" > "$images_dir/packages-postgres.txt"
  echo "postgres: rootfs $(du -sm "$r" | cut -f1) MB, mmdebstrap+customize=$((t1 - t0))s pack=$(($(date +%s) - t1))s" \
    > "$work/postgres/summary"
  echo "$version" > "$work/postgres/version"
}

pkg_list() { # ROOT
  dpkg-query --admindir="$1/var/lib/dpkg" -W -f='${Package} ${Version}\n' | sort
}

# run_logged NAME: build_NAME with its output in build-NAME.log. (As a job of
# its own: in a condition, `set -e` would not apply inside build_NAME.)
run_logged() {
  local log=$images_dir/build-$1.log rc=0
  "build_$1" > "$log" 2>&1 &
  wait $! || rc=$?
  if [ "$rc" != 0 ]; then
    echo "images: building $1 failed; the end of $log:" >&2
    tail -30 "$log" >&2
    return 1
  fi
}

t0=$(date +%s)
if [ "$jobs" -ge 2 ]; then
  run_logged nginx & nginx_job=$!
  run_logged postgres & postgres_job=$!
  status=0
  wait "$nginx_job" || status=1
  wait "$postgres_job" || status=1
  [ "$status" = 0 ] || exit 1
else
  run_logged nginx
  run_logged postgres
fi
t1=$(date +%s)

{
  cat "$work/nginx/summary" "$work/postgres/summary"
  echo "total=$((t1 - t0))s jobs=$jobs"
} > "$images_dir/timing.txt"
for name in nginx postgres; do
  echo "$name.tar $(stat -c %s "$images_dir/$name.tar") bytes ($(du -m "$images_dir/$name.tar" | cut -f1) MB)"
done > "$images_dir/sizes.txt"

env_var() { printf '%s=%q\n' "$1" "$2"; }
{
  echo "# mcsrun-test images (integration/images/build.sh); source this file."
  env_var IMG_DIR "$images_dir"
  env_var IMG_NGINX_TAG "$NGINX_TAG"
  env_var IMG_NGINX_REF "docker.io/$NGINX_TAG"
  env_var IMG_NGINX_ARCHIVE "$images_dir/nginx.tar"
  env_var IMG_NGINX_VERSION "$(cat "$work/nginx/version")"
  env_var IMG_NGINX_PORT 80
  env_var IMG_NGINX_INDEX_PATH "$NGINX_INDEX_PATH"
  env_var IMG_NGINX_INDEX_TEXT "$NGINX_INDEX_TEXT"
  env_var IMG_NGINX_WORKER_USER www-data
  env_var IMG_NGINX_STOP_SIGNAL SIGQUIT
  env_var IMG_POSTGRES_TAG "$POSTGRES_TAG"
  env_var IMG_POSTGRES_REF "docker.io/$POSTGRES_TAG"
  env_var IMG_POSTGRES_ARCHIVE "$images_dir/postgres.tar"
  env_var IMG_POSTGRES_VERSION "$(cat "$work/postgres/version")"
  env_var IMG_POSTGRES_PORT 5432
  env_var IMG_POSTGRES_OS_USER postgres
  env_var IMG_POSTGRES_ENTRYPOINT "$POSTGRES_ENTRYPOINT"
  env_var IMG_POSTGRES_DATA /var/lib/postgresql/15/main
  env_var IMG_POSTGRES_SOCKET_DIR /run/postgresql
  env_var IMG_POSTGRES_STOP_SIGNAL SIGINT
} > "$images_dir/images.env"
touch "$images_dir/complete"

# Keep only the newest images.
for old in "$MCSRUN_IMAGES_DIR"/images-*; do
  [ "$old" = "$images_dir" ] || rm -rf "$old"
done
cat "$images_dir/timing.txt" "$images_dir/sizes.txt"
echo "images: built in $((t1 - t0))s"
echo "$images_dir"
