//! Reading and parsing `/proc/<pid>/mountinfo`, and lookups over the parsed table (the
//! mount at a path, the mount covering a path, mounts of one superblock).
//!
//! Line format (proc(5)):
//! `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
//! — mount id, parent id, major:minor, root, mount point, per-mount options,
//! zero or more optional fields ended by `-`, fs type, source, super options.
//!
//! The text is bytes, not UTF-8: a path on the host may hold any byte but NUL and `/`
//! inside a name, and the kernel prints every byte as it is except space, tab, newline
//! and backslash, which it writes as the octal escapes `\040`, `\011`, `\012`, `\134`.
//! So roots, mount points, fs types and sources are [`PathBuf`]/[`OsString`] holding
//! the decoded bytes exactly, and one mount point anywhere that is not UTF-8 never
//! stops the table from being read. The per-mount options and optional fields are
//! written by the kernel from fixed ASCII words and numbers (`rw`, `nosuid`,
//! `shared:12`), so they are kept as text.
//!
//! Super options are kept in their escaped form ([`MountEntry::super_options_raw`]),
//! because overlay's `lowerdir` needs the escapes to tell a path's `:` from the layer
//! separator; [`unescape`] decodes them.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Why a mount table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A line is not a mountinfo line. When the table was read from a file, `why` starts
    /// with that file's path.
    #[error("mountinfo line {line}: {why}")]
    Malformed { line: usize, why: String },
}

/// One line of a mountinfo file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_id: u64,
    pub parent_id: u64,
    /// Device number of the superblock (`major:minor`); equal for every mount of one
    /// superblock, in every mount namespace.
    pub major: u32,
    pub minor: u32,
    /// The directory of the filesystem that is the root of this mount (bind mounts).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// Per-mount options (`rw`, `nosuid`, `relatime`, ...).
    pub mount_options: Vec<String>,
    /// Optional fields such as `shared:2`, `master:1`.
    pub optional_fields: Vec<String>,
    /// The filesystem type (`ext4`, `overlay`, `fuse.sshfs`: a FUSE subtype is the
    /// mounter's choice, so this is bytes too).
    pub fs_type: OsString,
    pub source: OsString,
    /// Per-superblock options, still octal-escaped, split on commas outside quotes.
    pub super_options_raw: Vec<OsString>,
}

impl MountEntry {
    /// The decoded value of a super option (`key=value`), with surrounding quotes removed;
    /// `Some("")` for a flag option present without a value.
    pub fn super_option(&self, key: &str) -> Option<OsString> {
        self.super_options_raw.iter().find_map(|raw| {
            let (k, v) = split_option(raw.as_bytes());
            (k == key.as_bytes())
                .then(|| OsString::from_vec(strip_quotes(&unescape(v.unwrap_or(b""))).to_vec()))
        })
    }

    /// Super options decoded (`key=value` with octal escapes resolved).
    pub fn super_options(&self) -> Vec<OsString> {
        self.super_options_raw
            .iter()
            .map(|raw| OsString::from_vec(unescape(raw.as_bytes())))
            .collect()
    }

    /// The `context=` label the superblock was mounted with, if any. A context is text;
    /// bytes that are not UTF-8 (which no policy accepts) show as U+FFFD.
    pub fn context(&self) -> Option<String> {
        self.super_option("context")
            .map(|value| value.to_string_lossy().into_owned())
    }

    /// True when the mount or its superblock is read-only.
    pub fn read_only(&self) -> bool {
        self.mount_options.iter().any(|o| o == "ro")
            || self.super_options_raw.iter().any(|o| o == "ro")
    }

    /// The peer group id from a `shared:N` optional field.
    pub fn shared_peer_group(&self) -> Option<u64> {
        self.optional_fields
            .iter()
            .find_map(|f| f.strip_prefix("shared:")?.parse().ok())
    }

    pub fn device(&self) -> (u32, u32) {
        (self.major, self.minor)
    }
}

/// Splits `key=value` into its parts; `value` is `None` for a bare flag.
pub fn split_option(raw: &[u8]) -> (&[u8], Option<&[u8]>) {
    match raw.iter().position(|&b| b == b'=') {
        Some(at) => (&raw[..at], Some(&raw[at + 1..])),
        None => (raw, None),
    }
}

fn strip_quotes(value: &[u8]) -> &[u8] {
    value
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .unwrap_or(value)
}

/// Decodes the kernel's `\NNN` octal escapes (NNN at most `\377`); every other byte,
/// a backslash that starts no such escape included, is kept as it is.
pub fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' && i + 4 <= field.len() && is_octal_escape(&field[i + 1..i + 4]) {
            let digits = &field[i + 1..i + 4];
            out.push((digits[0] - b'0') * 64 + (digits[1] - b'0') * 8 + (digits[2] - b'0'));
            i += 4;
        } else {
            out.push(field[i]);
            i += 1;
        }
    }
    out
}

fn is_octal_escape(digits: &[u8]) -> bool {
    digits.len() == 3 && digits[0] <= b'3' && digits.iter().all(|d| (b'0'..=b'7').contains(d))
}

/// Splits a super-options field on commas that are not inside double quotes
/// (SELinux shows `context="u:r:t:s0:c1,c2"` with raw commas inside quotes).
fn split_super_options(field: &[u8]) -> Vec<OsString> {
    let mut options = Vec::new();
    let mut current = Vec::new();
    let mut in_quotes = false;
    for &b in field {
        match b {
            b'"' => {
                in_quotes = !in_quotes;
                current.push(b);
            }
            b',' if !in_quotes => options.push(std::mem::take(&mut current)),
            _ => current.push(b),
        }
    }
    options.push(current);
    options
        .into_iter()
        .filter(|o| !o.is_empty())
        .map(OsString::from_vec)
        .collect()
}

/// Text of a field for an error message.
fn shown(field: &[u8]) -> String {
    String::from_utf8_lossy(field).into_owned()
}

/// Parses one mountinfo line (without its newline); `line_no` (1-based) only serves
/// error messages.
pub fn parse_line(line: &[u8], line_no: usize) -> Result<MountEntry, Error> {
    let bad = |why: String| Error::Malformed { line: line_no, why };
    let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let separator = fields
        .iter()
        .position(|f| *f == b"-")
        .ok_or_else(|| bad("no '-' separator after the optional fields".into()))?;
    if separator < 6 {
        return Err(bad(format!(
            "{separator} fields before '-', expected at least 6"
        )));
    }
    if fields.len() < separator + 3 {
        return Err(bad(
            "missing fs type, source or super options after '-'".into()
        ));
    }
    let number = |name: &str, field: &[u8]| {
        std::str::from_utf8(field)
            .ok()
            .and_then(|text| text.parse::<u64>().ok())
            .ok_or_else(|| bad(format!("{name} {:?} is not a number", shown(field))))
    };
    let device = shown(fields[2]);
    let (major, minor) = device
        .split_once(':')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| bad(format!("device {device:?} is not major:minor")))?;
    let path = |field: &[u8]| PathBuf::from(OsString::from_vec(unescape(field)));
    Ok(MountEntry {
        mount_id: number("mount id", fields[0])?,
        parent_id: number("parent id", fields[1])?,
        major,
        minor,
        root: path(fields[3]),
        mount_point: path(fields[4]),
        mount_options: fields[5].split(|&b| b == b',').map(shown).collect(),
        optional_fields: fields[6..separator].iter().map(|f| shown(f)).collect(),
        fs_type: OsString::from_vec(unescape(fields[separator + 1])),
        source: OsString::from_vec(unescape(fields[separator + 2])),
        // The super options are the last field; spaces inside are escaped, so joining
        // is only a guard against a stray unescaped space.
        super_options_raw: split_super_options(&fields[separator + 3..].join(&b' ')),
    })
}

/// The non-blank lines of a mountinfo text with their 1-based numbers.
pub fn lines(text: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    text.split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(i, line)| (i + 1, line))
}

/// A parsed mount table (one mount namespace as one process sees it).
#[derive(Debug, Clone, Default)]
pub struct MountTable {
    pub entries: Vec<MountEntry>,
}

impl MountTable {
    /// Parses the whole text of a mountinfo file; blank lines are skipped.
    pub fn parse(text: &[u8]) -> Result<MountTable, Error> {
        let entries = lines(text)
            .map(|(line_no, line)| parse_line(line, line_no))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MountTable { entries })
    }

    /// Reads and parses `/proc/self/mountinfo`.
    pub fn read_self() -> Result<MountTable, Error> {
        Self::read_file(Path::new("/proc/self/mountinfo"))
    }

    /// Reads and parses `/proc/<pid>/mountinfo`: the mount namespace of process `pid`.
    pub fn read_pid(pid: u32) -> Result<MountTable, Error> {
        Self::read_file(Path::new(&format!("/proc/{pid}/mountinfo")))
    }

    /// Reads and parses a mountinfo file at `path`.
    pub fn read_file(path: &Path) -> Result<MountTable, Error> {
        let text = read_proc_file(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            Error::Malformed { line, why } => Error::Malformed {
                line,
                why: format!("{}: {why}", path.display()),
            },
            other => other,
        })
    }

    /// The visible (topmost) mount whose mount point is exactly `path`.
    pub fn mount_at(&self, path: &Path) -> Option<&MountEntry> {
        topmost(&self.mounts_at(path))
    }

    /// All mounts stacked on exactly `path`, bottom first as listed.
    pub fn mounts_at(&self, path: &Path) -> Vec<&MountEntry> {
        self.entries
            .iter()
            .filter(|e| e.mount_point == path)
            .collect()
    }

    /// The visible mount that contains `path`: the mount at `path` itself, else the one
    /// with the longest mount point that is an ancestor of `path`.
    pub fn covering_mount(&self, path: &Path) -> Option<&MountEntry> {
        let best_len = self
            .entries
            .iter()
            .filter(|e| path.starts_with(&e.mount_point))
            .map(|e| e.mount_point.components().count())
            .max()?;
        let stack: Vec<&MountEntry> = self
            .entries
            .iter()
            .filter(|e| {
                path.starts_with(&e.mount_point) && e.mount_point.components().count() == best_len
            })
            .collect();
        topmost(&stack)
    }

    /// Mounts of the superblock with device number `device`.
    pub fn mounts_of_device(&self, device: (u32, u32)) -> impl Iterator<Item = &MountEntry> {
        self.entries.iter().filter(move |e| e.device() == device)
    }

    /// Mounts whose filesystem type is `fs_type`, in table order.
    pub fn mounts_of_type<'a>(&'a self, fs_type: &'a str) -> impl Iterator<Item = &'a MountEntry> {
        self.entries
            .iter()
            .filter(move |e| e.fs_type.as_os_str() == fs_type)
    }
}

/// Of mounts stacked on one mount point, the one no other of them sits on.
fn topmost<'a>(stack: &[&'a MountEntry]) -> Option<&'a MountEntry> {
    stack
        .iter()
        .find(|candidate| !stack.iter().any(|e| e.parent_id == candidate.mount_id))
        .or(stack.last())
        .copied()
}

/// Reads a file whole, starting with a 64 KiB buffer: `/proc` files report size 0, and
/// `std::fs::read` would then start small and double, one system call per step (nine for
/// a short mount table), each of which makes the kernel format the table again from
/// where it stopped. Here a mount table of up to 64 KiB takes two reads.
pub fn read_proc_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut text = Vec::with_capacity(64 * 1024);
    file.read_to_end(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    const FIXTURE: &str = "\
22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
36 27 98:0 /mnt1 /mnt\\040two rw,noatime master:1 propagate_from:2 - ext3 /dev/root rw,errors=continue
44 27 0:39 / /var/lib/docker/overlay2/abc/merged rw,relatime shared:40 - overlay overlay rw,lowerdir=l/AAAA:l/BBBB,upperdir=/var/lib/docker/overlay2/abc/diff,workdir=/var/lib/docker/overlay2/abc/work,index=off
45 27 0:40 / /run/c/rootfs rw,relatime - overlay overlay rw,seclabel,lowerdir=/s/1/fs,upperdir=/s/2/fs,workdir=/s/2/work,context=\"system_u:object_r:container_file_t:s0:c1,c2\"
46 44 0:41 / /var/lib/docker/overlay2/abc/merged ro,relatime - tmpfs tmpfs ro,size=10k
";

    fn os(bytes: &[u8]) -> OsString {
        OsString::from_vec(bytes.to_vec())
    }

    fn path(bytes: &[u8]) -> PathBuf {
        PathBuf::from(os(bytes))
    }

    #[test]
    fn parses_fields_escapes_and_optional_fields() {
        let table = MountTable::parse(FIXTURE.as_bytes()).unwrap();
        assert_eq!(table.entries.len(), 6);
        let e = &table.entries[2];
        assert_eq!(e.mount_id, 36);
        assert_eq!(e.parent_id, 27);
        assert_eq!(e.device(), (98, 0));
        assert_eq!(e.root, Path::new("/mnt1"));
        assert_eq!(e.mount_point, Path::new("/mnt two"));
        assert_eq!(e.optional_fields, vec!["master:1", "propagate_from:2"]);
        assert_eq!(e.fs_type, "ext3");
        assert_eq!(e.source, "/dev/root");
        assert_eq!(e.super_options_raw, vec!["rw", "errors=continue"]);
        assert!(!e.read_only());
        assert_eq!(table.entries[1].shared_peer_group(), Some(1));
    }

    #[test]
    fn quoted_context_keeps_its_commas() {
        let table = MountTable::parse(FIXTURE.as_bytes()).unwrap();
        let e = table.mount_at(Path::new("/run/c/rootfs")).unwrap();
        assert_eq!(
            e.context().as_deref(),
            Some("system_u:object_r:container_file_t:s0:c1,c2")
        );
        assert_eq!(e.super_option("seclabel"), Some(OsString::new()));
        assert_eq!(e.super_options_raw.len(), 6);
    }

    #[test]
    fn topmost_of_a_stack_and_covering_mount() {
        let table = MountTable::parse(FIXTURE.as_bytes()).unwrap();
        let merged = Path::new("/var/lib/docker/overlay2/abc/merged");
        assert_eq!(table.mount_at(merged).unwrap().mount_id, 46);
        assert_eq!(table.mounts_at(merged).len(), 2);
        let covering = |p: &str| table.covering_mount(Path::new(p)).unwrap().mount_id;
        assert_eq!(covering("/var/lib/docker/overlay2/abc/merged/etc"), 46);
        assert_eq!(covering("/var/lib/docker/overlay2/abc/diff"), 27);
        // "/proc" must not cover "/processes".
        assert_eq!(covering("/processes"), 27);
        assert!(table.mount_at(Path::new("/nowhere")).is_none());
        let overlays: Vec<u64> = table
            .mounts_of_type("overlay")
            .map(|e| e.mount_id)
            .collect();
        assert_eq!(overlays, [44, 45]);
        assert_eq!(table.mounts_of_device((0, 41)).count(), 1);
    }

    #[test]
    fn octal_escapes_decode_and_stray_backslashes_stay() {
        assert_eq!(unescape(b"a\\040b\\011c\\012d\\134e"), b"a b\tc\nd\\e");
        assert_eq!(unescape(b"x\\072y"), b"x:y");
        assert_eq!(unescape(b"trailing\\04"), b"trailing\\04");
        assert_eq!(unescape(b"\\999"), b"\\999");
        assert_eq!(unescape(b"\\400"), b"\\400");
        assert_eq!(unescape(b"\\377\\000"), b"\xff\0");
        assert_eq!(unescape(b"\\"), b"\\");
    }

    /// Every escape the kernel writes, and bytes that are not UTF-8, in every path field,
    /// in the source and in the super options.
    #[test]
    fn every_escape_and_bytes_that_are_not_utf8_survive() {
        let text = b"70 27 0:42 /r\\040o\\011o\\012t\\134\xff /tmp/a\\040b\\011c\\012d\\134e\xfe rw,relatime shared:3 - fuse.s\xe9 src\\040\xc3(\\134 rw,lowerdir=/l\\040o\\134:w\xff,user_id=0\n\
71 27 0:43 / /tmp/plain rw - tmpfs tmpfs rw\n";
        let table = MountTable::parse(text).unwrap();
        assert_eq!(table.entries.len(), 2);
        let e = &table.entries[0];
        assert_eq!(e.root, path(b"/r o\to\nt\\\xff"));
        assert_eq!(e.mount_point, path(b"/tmp/a b\tc\nd\\e\xfe"));
        assert_eq!(e.fs_type, os(b"fuse.s\xe9"));
        assert_eq!(e.source, os(b"src \xc3(\\"));
        assert_eq!(e.mount_options, ["rw", "relatime"]);
        assert_eq!(e.shared_peer_group(), Some(3));
        assert_eq!(
            e.super_options_raw,
            [
                os(b"rw"),
                os(b"lowerdir=/l\\040o\\134:w\xff"),
                os(b"user_id=0")
            ]
        );
        assert_eq!(e.super_option("lowerdir"), Some(os(b"/l o\\:w\xff")));
        assert_eq!(
            e.super_options()[1],
            os(b"lowerdir=/l o\\:w\xff"),
            "decoded for display"
        );
        assert_eq!(
            table
                .mount_at(Path::new(OsStr::from_bytes(b"/tmp/a b\tc\nd\\e\xfe")))
                .map(|e| e.mount_id),
            Some(70)
        );
        assert_eq!(
            table
                .covering_mount(&path(b"/tmp/a b\tc\nd\\e\xfe/below"))
                .map(|e| e.mount_id),
            Some(70)
        );
        assert_eq!(table.entries[1].mount_point, Path::new("/tmp/plain"));
    }

    #[test]
    fn a_context_that_is_not_utf8_is_shown_not_fatal() {
        let e = parse_line(
            b"5 1 0:5 / /m rw - tmpfs tmpfs rw,context=\"u:r:t\xff:s0\"",
            1,
        )
        .unwrap();
        assert_eq!(e.context().as_deref(), Some("u:r:t\u{fffd}:s0"));
    }

    #[test]
    fn malformed_lines_name_the_line_and_the_problem() {
        let err = MountTable::parse(b"27 1 254:0 / / rw shared:1 ext4 /dev/vda rw\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1") && err.contains("'-'"), "{err}");
        let err = MountTable::parse(b"\nx 1 254:0 / / rw - ext4 /dev/vda rw\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("\"x\""), "{err}");
        let err = MountTable::parse(b"1 1 254 / / rw - ext4 /dev/vda rw\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("major:minor"), "{err}");
        let err = MountTable::parse(b"1 1 0:1 / / rw -\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing fs type"), "{err}");
    }

    #[test]
    fn a_file_names_itself_in_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let file = dir.join("mountinfo");
        std::fs::write(&file, b"garbage\n").unwrap();
        let err = MountTable::read_file(&file).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "mountinfo line 1: {}: no '-' separator after the optional fields",
                file.display()
            )
        );
        let missing = dir.join("absent");
        let err = MountTable::read_file(&missing).unwrap_err();
        assert!(matches!(err, Error::Read { .. }));
        assert!(err
            .to_string()
            .starts_with(&format!("{}: ", missing.display())));
    }

    #[test]
    fn reads_this_process_mount_table() {
        let table = MountTable::read_self().unwrap();
        assert!(table.covering_mount(Path::new("/")).is_some());
        let by_pid = MountTable::read_pid(std::process::id()).unwrap();
        assert!(by_pid.covering_mount(Path::new("/")).is_some());
    }

    /// The kernel's escaping (fs/proc_namespace.c: `mangle` escapes ` \t\n\\`).
    fn kernel_escape(name: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in name {
            match b {
                b' ' | b'\t' | b'\n' | b'\\' => out.extend(format!("\\{b:03o}").bytes()),
                _ => out.push(b),
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn escaped_mount_points_round_trip(
            name in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b' '),
                    proptest::strategy::Just(b'\t'),
                    proptest::strategy::Just(b'\n'),
                    proptest::strategy::Just(b'\\'),
                    b'a'..=b'z',
                    0x80u8..=0xff,
                ],
                1..16,
            )
        ) {
            let mut line = b"5 1 0:5 / /m/".to_vec();
            line.extend(kernel_escape(&name));
            line.extend(b" rw - tmpfs tmpfs rw\n");
            let table = MountTable::parse(&line).unwrap();
            let mut expected = b"/m/".to_vec();
            expected.extend(&name);
            proptest::prop_assert_eq!(&table.entries[0].mount_point, &path(&expected));
        }
    }
}
