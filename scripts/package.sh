#!/usr/bin/env bash
# Builds mcsrun's packages from the repo in one command:
#   target/debian/mcsrun_<version>-1_amd64.deb        (dpkg-deb)
#   target/generate-rpm/mcsrun-<version>-1.x86_64.rpm  (rpmbuild, from Debian's rpm package)
# with the same contents: /usr/bin/mcsrun, mcsrun-core and mcsctl, /etc/mcsrun/config.toml (a conffile),
# the tmpfiles.d entry for /run/mcsrun, man pages, mcsctl's shell completions and the
# SELinux file contexts. What the packages contain is listed once, in packaging/files (the
# .deb's control file, maintainer scripts and copyright are in packaging/debian/, the
# .rpm's scriptlets in packaging/rpm/); the man pages and completions that can be
# generated are generated here (packaging/package_docs.rs).
#
# No packaging tool is compiled: the binaries are `cargo build --release` for the host
# triple, stripped in the staging trees. mcsctl and mcsrun-core have glibc linked in
# statically (static PIEs: still position-independent, so ASLR stays); the `mcsrun` entry
# binary has no C library at all (static, its own start-up), so a passthrough call runs
# neither a dynamic loader nor glibc's start-up, and the packages ask for no particular
# glibc (the .rpm installs on Fedora 29's 2.28). dpkg-deb and rpmbuild only pack those trees; the Depends of the
# .deb are the runtimes. As root, the Debian packages
# needed (dpkg-dev, rpm, jq; lintian with the checks) are installed when missing. Then
# lintian checks the .deb and `rpm -qlp` lists the .rpm.
#
# Usage: scripts/package.sh [--no-check]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
umask 022

check=1
case "${1:-}" in
  --no-check) check=0 ;;
  "") ;;
  -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "package.sh: unknown argument $1" >&2; exit 2 ;;
esac

t0=$(date +%s)
stamp() { echo "package.sh: [$(( $(date +%s) - t0 ))s] $*"; }
die() { echo "package.sh: $*" >&2; exit 1; }

# --- tools: Debian's ---------------------------------------------------------
# dpkg-dev, binutils: dpkg-deb, strip; rpm: rpmbuild; jq: cargo metadata; file: the check
# that the binaries are static.
want=(dpkg-dev binutils rpm jq file)
[ "$check" = 1 ] && want+=(lintian)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]} (run as root to install them)"
  stamp "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
fi

metadata=$(cargo metadata --no-deps --format-version 1)
meta=$(jq -c '.packages[] | select(.name == "mcsrun")' <<<"$metadata")
version=$(jq -r .version <<<"$meta")
summary=$(jq -r .description <<<"$meta")
license=$(jq -r .license <<<"$meta")
# Where cargo puts the release build for an explicit target (CARGO_TARGET_DIR or
# build.target-dir may move it). crt-static needs --target: without it the flag would
# reach the proc-macro crates, which cannot be static.
host=$(rustc -vV | sed -n 's/^host: //p')
release_dir=$(jq -r .target_directory <<<"$metadata")/$host/release

# --- build ------------------------------------------------------------------
stamp "cargo build --release --target $host, static (mcsrun, mcsrun-core, mcsctl)"
RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static" \
  cargo build --release --quiet --target "$host" --bin mcsrun --bin mcsrun-core --bin mcsctl
for bin in mcsrun-core mcsctl; do
  file -b "$release_dir/$bin" | grep -q 'static-pie linked' \
    || die "$release_dir/$bin is not a static PIE: $(file -b "$release_dir/$bin")"
done
file -b "$release_dir/mcsrun" | grep -q 'executable.*statically linked' \
  || die "$release_dir/mcsrun is not a static executable: $(file -b "$release_dir/mcsrun")"

stamp "man pages and completions"
docs=$repo/target/package-docs
rm -rf "$docs"
cargo run --quiet --example package-docs -- "$docs"
cp packaging/man/mcsrun.8 "$docs/man/man8/mcsrun.8"
# mcsrun-core takes mcsrun's command line: the same page.
echo ".so man8/mcsrun.8" > "$docs/man/man8/mcsrun-core.8"
cp packaging/debian/changelog "$docs/changelog.Debian"
# -n: no name or time stamp in the gzip header, so the same input gives the same package.
gzip -9nf "$docs"/man/man*/*.[0-9] "$docs/changelog.Debian"

# Every file's time in the packages is the last commit's (reproducible builds).
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH

# --- staging ----------------------------------------------------------------
# stage ROOT deb|rpm: copies packaging/files' entries for that package under ROOT, and
# lists the conffiles (.deb) or the %files lines (.rpm) in ROOT.list.
stage() {
  local root=$1 kind=$2 src dest mode flags path target
  rm -rf "$root" "$root.list"
  mkdir -p "$root"
  : > "$root.list"
  while read -r src dest mode flags; do
    case $src in ''|'#'*) continue ;; esac
    [ -n "$mode" ] || die "packaging/files: no mode for $src"
    flags=" $flags "
    case $flags in
      *" deb "*) [ "$kind" = deb ] || continue ;;
      *" rpm "*) [ "$kind" = rpm ] || continue ;;
    esac
    local n=0
    case $src in target/release/*) src=$release_dir/${src#target/release/} ;; esac
    for path in $src; do
      [ -f "$path" ] || die "packaging/files: $src: no such file (build it first)"
      n=$((n + 1))
      target=$dest
      case $dest in */) target=$dest$(basename "$path") ;; esac
      install -D -m "$mode" "$path" "$root$target"
      case $flags in
        *" strip "*) strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root$target" ;;
      esac
      if [ "$kind" = deb ]; then
        case $flags in *" config "*) echo "$target" >> "$root.list" ;; esac
      else
        local attr="%attr($mode,root,root)"
        case $flags in
          *" config "*) attr+=" %config(noreplace)" ;;
          *" doc "*) attr+=" %doc" ;;
        esac
        echo "$attr $target" >> "$root.list"
      fi
    done
    [ "$n" -gt 0 ] || die "packaging/files: $src matches no file"
  done < packaging/files
  find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

stage=$repo/target/package-stage
rm -rf target/debian target/generate-rpm "$stage"
mkdir -p target/debian target/generate-rpm "$stage"

# --- .deb -------------------------------------------------------------------
stamp "dpkg-deb"
root=$stage/deb
stage "$root" deb
ctl=$root/DEBIAN
mkdir -p "$ctl"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$ctl/"
install -m 0644 "$root.list" "$ctl/conffiles"
# debsums and dpkg --verify use the md5sums.
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
  | xargs -0 md5sum > DEBIAN/md5sums)
chmod 0644 "$ctl/md5sums"
# Installed-Size as dpkg-gencontrol counts it: KiB per file, rounded up, and 1 for any
# other entry.
size=$(find "$root" -path "$ctl" -prune -o \( -type f -printf '%s\n' -o -printf 'x\n' \) \
  | awk '$1 == "x" { n += 1; next } { n += int(($1 + 1023) / 1024) } END { print n }')
sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$size/" \
  packaging/debian/control > "$ctl/control"
chmod 0644 "$ctl/control"
find "$ctl" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
deb=target/debian/mcsrun_${version}-1_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null

# --- .rpm -------------------------------------------------------------------
stamp "rpmbuild"
root=$stage/rpm
stage "$root" rpm
spec=$stage/mcsrun.spec
{
  cat <<EOF
Name: mcsrun
Version: $version
Release: 1
Summary: $summary
License: $license
Requires: (runc or crun)

%description
$summary

%post
$(cat packaging/rpm/post)

%preun
$(cat packaging/rpm/preun)

%postun
$(cat packaging/rpm/postun)

%files
EOF
  cat "$root.list"
} > "$spec"
# No %prep, %build or %install: rpmbuild packs the staged tree as it is (so its strip and
# man page compression never run), without /usr/lib/.build-id links, with no compiler
# flags in the header, and with a fixed build host and the commit's time.
rpmbuild -bb --quiet --target x86_64 --buildroot "$root" \
  --define "_topdir $repo/target/rpmbuild" \
  --define "_rpmdir $repo/target/generate-rpm" \
  --define '_rpmfilename %{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm' \
  --define '_build_id_links none' \
  --define '_binary_payload w19.zstdio' \
  --define '_buildhost localhost' \
  --define 'optflags %{nil}' \
  --define 'use_source_date_epoch_as_buildtime 1' \
  --define 'clamp_mtime_to_source_date_epoch 1' \
  "$spec" >/dev/null
rpm=target/generate-rpm/mcsrun-${version}-1.x86_64.rpm
[ -f "$rpm" ] || die "rpmbuild wrote no $rpm"

echo "package.sh: $deb ($(stat -c %s "$deb") bytes)"
echo "package.sh: $rpm ($(stat -c %s "$rpm") bytes)"

if [ "$check" = 1 ]; then
  if command -v lintian >/dev/null; then
    stamp "lintian"
    # Tags overridden with their reasons: packaging/debian/lintian-overrides.
    lintian --display-info --pedantic --tag-display-limit 0 --show-overrides "$deb" 2>&1 | grep -v '^running with root privileges' || true
  fi
  stamp "rpm -qlp"
  rpm -qlp "$rpm"
fi
stamp "done"
