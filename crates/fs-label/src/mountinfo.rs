//! Parsing of `/proc/<pid>/mountinfo` text and lookups over the parsed table
//! (the mount at a path, the mount covering a path, mounts of one superblock).
//!
//! Line format (proc(5)):
//! `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
//! — mount id, parent id, major:minor, root, mount point, per-mount options,
//! zero or more optional fields ended by `-`, fs type, source, super options.
//! Paths are octal-escaped by the kernel (`\040` for space, `\011`, `\012`, `\134`).
//! Super options are kept in their escaped form, because overlay's `lowerdir` needs the
//! escapes to tell a path's `:` from the layer separator; [`unescape_octal`] decodes them.

use std::path::{Path, PathBuf};

use crate::error::{FsLabelError, Result};

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
    pub fs_type: String,
    pub source: String,
    /// Per-superblock options, still octal-escaped, split on commas outside quotes.
    pub super_options_raw: Vec<String>,
}

impl MountEntry {
    /// The decoded value of a super option (`key=value`), with surrounding quotes removed;
    /// `Some("")` for a flag option present without a value.
    pub fn super_option(&self, key: &str) -> Option<String> {
        self.super_options_raw.iter().find_map(|raw| {
            let (k, v) = split_option(raw);
            (k == key).then(|| strip_quotes(&unescape_octal(v.unwrap_or(""))).to_string())
        })
    }

    /// Super options decoded for display (`key=value` with octal escapes resolved).
    pub fn super_options(&self) -> Vec<String> {
        self.super_options_raw
            .iter()
            .map(|raw| unescape_octal(raw))
            .collect()
    }

    /// The `context=` label the superblock was mounted with, if any.
    pub fn context(&self) -> Option<String> {
        self.super_option("context")
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
pub(crate) fn split_option(raw: &str) -> (&str, Option<&str>) {
    match raw.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (raw, None),
    }
}

fn strip_quotes(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// Decodes the kernel's `\NNN` octal escapes; anything else is kept as is.
pub fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() && is_octal_escape(&bytes[i + 1..i + 4]) {
            let value = (bytes[i + 1] - b'0') as u32 * 64
                + (bytes[i + 2] - b'0') as u32 * 8
                + (bytes[i + 3] - b'0') as u32;
            out.push(value as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_octal_escape(digits: &[u8]) -> bool {
    digits.len() == 3 && digits[0] <= b'3' && digits.iter().all(|d| (b'0'..=b'7').contains(d))
}

/// Splits a super-options field on commas that are not inside double quotes
/// (SELinux shows `context="u:r:t:s0:c1,c2"` with raw commas inside quotes).
fn split_super_options(field: &str) -> Vec<String> {
    let mut options = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    for c in field.chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                current.push(c);
            }
            ',' if !in_quotes => options.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    options.push(current);
    options.retain(|o| !o.is_empty());
    options
}

/// Parses one mountinfo line; `line_no` (1-based) only serves error messages.
pub fn parse_line(line: &str, line_no: usize) -> Result<MountEntry> {
    let bad = |why: String| FsLabelError::MountInfo { line: line_no, why };
    let fields: Vec<&str> = line.split(' ').collect();
    let separator = fields
        .iter()
        .position(|f| *f == "-")
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
    let number = |name: &str, text: &str| {
        text.parse::<u64>()
            .map_err(|_| bad(format!("{name} {text:?} is not a number")))
    };
    let (major, minor) = fields[2]
        .split_once(':')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| bad(format!("device {:?} is not major:minor", fields[2])))?;
    Ok(MountEntry {
        mount_id: number("mount id", fields[0])?,
        parent_id: number("parent id", fields[1])?,
        major,
        minor,
        root: PathBuf::from(unescape_octal(fields[3])),
        mount_point: PathBuf::from(unescape_octal(fields[4])),
        mount_options: fields[5].split(',').map(str::to_string).collect(),
        optional_fields: fields[6..separator].iter().map(|f| f.to_string()).collect(),
        fs_type: unescape_octal(fields[separator + 1]),
        source: unescape_octal(fields[separator + 2]),
        // The super options are the last field; spaces inside are escaped, so joining
        // is only a guard against a stray unescaped space.
        super_options_raw: split_super_options(&fields[separator + 3..].join(" ")),
    })
}

/// A parsed mount table (one mount namespace as one process sees it).
#[derive(Debug, Clone, Default)]
pub struct MountTable {
    pub entries: Vec<MountEntry>,
}

impl MountTable {
    /// Parses the whole text of a mountinfo file; blank lines are skipped.
    pub fn parse(text: &str) -> Result<MountTable> {
        let entries = text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| parse_line(line, i + 1))
            .collect::<Result<Vec<_>>>()?;
        Ok(MountTable { entries })
    }

    /// Reads and parses `/proc/self/mountinfo`.
    pub fn read_self() -> Result<MountTable> {
        Self::read_file(Path::new("/proc/self/mountinfo"))
    }

    pub fn read_file(path: &Path) -> Result<MountTable> {
        let text = std::fs::read_to_string(path).map_err(|e| FsLabelError::io(path, e))?;
        Self::parse(&text).map_err(|e| match e {
            FsLabelError::MountInfo { line, why } => FsLabelError::MountInfo {
                line,
                why: format!("{}: {why}", path.display()),
            },
            other => other,
        })
    }

    /// The visible (topmost) mount whose mount point is exactly `path`.
    pub fn mount_at(&self, path: &Path) -> Option<&MountEntry> {
        let stack: Vec<&MountEntry> = self
            .entries
            .iter()
            .filter(|e| e.mount_point == path)
            .collect();
        topmost(&stack)
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
}

/// Of mounts stacked on one mount point, the one no other of them sits on.
fn topmost<'a>(stack: &[&'a MountEntry]) -> Option<&'a MountEntry> {
    stack
        .iter()
        .find(|candidate| !stack.iter().any(|e| e.parent_id == candidate.mount_id))
        .or(stack.last())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = "\
22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
36 27 98:0 /mnt1 /mnt\\040two rw,noatime master:1 propagate_from:2 - ext3 /dev/root rw,errors=continue
44 27 0:39 / /var/lib/docker/overlay2/abc/merged rw,relatime shared:40 - overlay overlay rw,lowerdir=l/AAAA:l/BBBB,upperdir=/var/lib/docker/overlay2/abc/diff,workdir=/var/lib/docker/overlay2/abc/work,index=off
45 27 0:40 / /run/c/rootfs rw,relatime - overlay overlay rw,seclabel,lowerdir=/s/1/fs,upperdir=/s/2/fs,workdir=/s/2/work,context=\"system_u:object_r:container_file_t:s0:c1,c2\"
46 44 0:41 / /var/lib/docker/overlay2/abc/merged ro,relatime - tmpfs tmpfs ro,size=10k
";

    #[test]
    fn parses_fields_escapes_and_optional_fields() {
        let table = MountTable::parse(FIXTURE).unwrap();
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
        let table = MountTable::parse(FIXTURE).unwrap();
        let e = table.mount_at(Path::new("/run/c/rootfs")).unwrap();
        assert_eq!(
            e.context().as_deref(),
            Some("system_u:object_r:container_file_t:s0:c1,c2")
        );
        assert_eq!(e.super_option("seclabel").as_deref(), Some(""));
        assert_eq!(e.super_options_raw.len(), 6);
    }

    #[test]
    fn topmost_of_a_stack_and_covering_mount() {
        let table = MountTable::parse(FIXTURE).unwrap();
        let merged = Path::new("/var/lib/docker/overlay2/abc/merged");
        assert_eq!(table.mount_at(merged).unwrap().mount_id, 46);
        assert_eq!(table.mounts_at(merged).len(), 2);
        assert_eq!(
            table
                .covering_mount(Path::new("/var/lib/docker/overlay2/abc/merged/etc"))
                .unwrap()
                .mount_id,
            46
        );
        assert_eq!(
            table
                .covering_mount(Path::new("/var/lib/docker/overlay2/abc/diff"))
                .unwrap()
                .mount_id,
            27
        );
        // "/proc" must not cover "/processes".
        assert_eq!(
            table
                .covering_mount(Path::new("/processes"))
                .unwrap()
                .mount_id,
            27
        );
        assert!(table.mount_at(Path::new("/nowhere")).is_none());
    }

    #[test]
    fn octal_escapes_decode_and_stray_backslashes_stay() {
        assert_eq!(unescape_octal("a\\040b\\011c\\012d\\134e"), "a b\tc\nd\\e");
        assert_eq!(unescape_octal("x\\072y"), "x:y");
        assert_eq!(unescape_octal("trailing\\04"), "trailing\\04");
        assert_eq!(unescape_octal("\\999"), "\\999");
    }

    #[test]
    fn malformed_lines_name_the_line_and_the_problem() {
        let err = MountTable::parse("27 1 254:0 / / rw shared:1 ext4 /dev/vda rw\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1") && err.contains("'-'"), "{err}");
        let err = MountTable::parse("\nx 1 254:0 / / rw - ext4 /dev/vda rw\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("\"x\""), "{err}");
        let err = MountTable::parse("1 1 254 / / rw - ext4 /dev/vda rw\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("major:minor"), "{err}");
    }

    #[test]
    fn reads_this_process_mount_table() {
        let table = MountTable::read_self().unwrap();
        assert!(table.covering_mount(Path::new("/")).is_some());
    }

    proptest::proptest! {
        #[test]
        fn escaped_mount_points_round_trip(name in "[a-z \\t\\\\]{1,12}") {
            let escaped: String = name.chars().map(|c| match c {
                ' ' => "\\040".to_string(),
                '\t' => "\\011".to_string(),
                '\\' => "\\134".to_string(),
                c => c.to_string(),
            }).collect();
            let line = format!("5 1 0:5 / /m/{escaped} rw - tmpfs tmpfs rw");
            let entry = parse_line(&line, 1).unwrap();
            proptest::prop_assert_eq!(entry.mount_point, PathBuf::from(format!("/m/{name}")));
        }
    }
}
