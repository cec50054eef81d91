//! Overlay mount options: reading them back from mountinfo and writing the `mount(2)`
//! data string for a fresh overlay on the same layers plus `context="<label>"`.
//!
//! Facts this module is built on (checked on Linux 6.1 and 6.18):
//! - mountinfo shows `lowerdir`/`upperdir`/`workdir` exactly as the mounter passed them.
//!   Docker's overlay2 driver passes `lowerdir=l/XXXX:l/YYYY` (and, when the absolute
//!   form exceeds a page, `upperdir=<id>/diff,workdir=<id>/work`) with its cwd set to the
//!   driver dir, so those paths are relative to a directory mountinfo does not record.
//!   [`find_relative_base`] recovers it from the layout (`<driver>/<id>/merged`,
//!   `<driver>/<id>/diff`) and checks that every relative layer exists there.
//! - Kernels before 6.5 store `lowerdir` as typed, so a `:` inside a path shows as the
//!   overlay escape `\:` (octal-escaped `\134:`); 6.5+ shows it as `\072`. Both decode here.
//!   A literal backslash in a layer path is not supported.
//! - Layer paths are bytes: a space, a tab or a byte that is not UTF-8 in a layer's name
//!   is read back from mountinfo and written into the new mount's data exactly.
//! - `mount(2)` copies at most one page of data: longer option strings fail. Then the
//!   data is made relative to the layers' common ancestor and the mount is done from
//!   there ([`MountData::cwd`]), as docker does.
//! - Security options (`context`, `fscontext`, `defcontext`, `rootcontext`, `seclabel`)
//!   and `rw`/`ro` are not overlay options and are never copied; `ro` becomes a mount flag.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use mountinfo::{split_option, unescape};

/// Superblock options that are not passed on when an overlay is mounted anew.
const NOT_COPIED: &[&str] = &[
    "rw",
    "ro",
    "context",
    "fscontext",
    "defcontext",
    "rootcontext",
    "seclabel",
];

/// The layers and other options of an overlay superblock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayOptions {
    /// Lower layers, top first.
    pub lower: Vec<PathBuf>,
    /// Data-only lower layers (after `::`), kernel 6.5+.
    pub data_lower: Vec<PathBuf>,
    pub upper: Option<PathBuf>,
    pub work: Option<PathBuf>,
    /// Other overlay options, decoded (`index=off`, `redirect_dir=on`, `uuid=on`,
    /// `userxattr`, `metacopy=on`, `xino=off`, `volatile`, ...), in mountinfo order.
    pub other: Vec<OsString>,
}

/// The data argument for `mount(2)` and the directory it must be passed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountData {
    /// The option string, as bytes: layer paths need not be UTF-8.
    pub data: OsString,
    /// `Some(dir)` when the layer paths are relative to `dir` (option string too long
    /// in absolute form).
    pub cwd: Option<PathBuf>,
}

impl OverlayOptions {
    /// Reads the overlay options from a mountinfo super-options field (still escaped).
    pub fn from_super_options(raw_options: &[OsString]) -> Result<OverlayOptions, String> {
        let mut options = OverlayOptions {
            lower: Vec::new(),
            data_lower: Vec::new(),
            upper: None,
            work: None,
            other: Vec::new(),
        };
        let mut saw_lower = false;
        let path = |bytes: Vec<u8>| PathBuf::from(OsString::from_vec(bytes));
        for raw in raw_options {
            let (key, value) = split_option(raw.as_bytes());
            match (key, value) {
                (b"lowerdir", Some(v)) => {
                    saw_lower = true;
                    let mut in_data_layers = false;
                    for segment in split_layers(v, true) {
                        if segment.is_empty() {
                            in_data_layers = true;
                        } else if in_data_layers {
                            options.data_lower.push(path(segment));
                        } else {
                            options.lower.push(path(segment));
                        }
                    }
                }
                (b"upperdir", Some(v)) => options.upper = Some(path(layer_path(v))),
                (b"workdir", Some(v)) => options.work = Some(path(layer_path(v))),
                (k, _) if NOT_COPIED.iter().any(|n| n.as_bytes() == k) => {}
                _ => options
                    .other
                    .push(OsString::from_vec(unescape(raw.as_bytes()))),
            }
        }
        if !saw_lower || options.lower.is_empty() {
            return Err("no lowerdir in the superblock options".to_string());
        }
        if options.upper.is_some() != options.work.is_some() {
            return Err("upperdir and workdir must come together".to_string());
        }
        Ok(options)
    }

    fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        self.lower
            .iter()
            .chain(&self.data_lower)
            .chain(&self.upper)
            .chain(&self.work)
    }

    /// The layer paths that are relative (to the mounter's cwd at the time).
    pub fn relative_paths(&self) -> Vec<&Path> {
        self.paths()
            .filter(|p| p.is_relative())
            .map(PathBuf::as_path)
            .collect()
    }

    /// A copy with every relative layer path joined onto `base`.
    pub fn resolved_against(&self, base: &Path) -> OverlayOptions {
        let fix = |p: &PathBuf| {
            if p.is_relative() {
                base.join(p)
            } else {
                p.clone()
            }
        };
        OverlayOptions {
            lower: self.lower.iter().map(fix).collect(),
            data_lower: self.data_lower.iter().map(fix).collect(),
            upper: self.upper.as_ref().map(fix),
            work: self.work.as_ref().map(fix),
            other: self.other.clone(),
        }
    }

    /// The `mount(2)` data for a new overlay on these layers, with `context="<label>"`
    /// when a label is given. Every layer path must be absolute. When the absolute form
    /// does not fit in `limit` bytes (the page size, counting the final NUL), the paths
    /// are made relative to their common ancestor, which becomes [`MountData::cwd`].
    pub fn mount_data(&self, label: Option<&str>, limit: usize) -> Result<MountData, String> {
        if let Some(relative) = self.relative_paths().first() {
            return Err(format!(
                "layer path {} is relative; resolve it first",
                relative.display()
            ));
        }
        if let Some(label) = label {
            check_label_for_mount(label)?;
        }
        let absolute = self.render(Path::new("/"), label, false);
        if absolute.len() < limit {
            return Ok(MountData {
                data: OsString::from_vec(absolute),
                cwd: None,
            });
        }
        let base = common_ancestor(self.paths());
        let relative = self.render(&base, label, true);
        if relative.len() < limit {
            return Ok(MountData {
                data: OsString::from_vec(relative),
                cwd: Some(base),
            });
        }
        Err(format!(
            "options are {} bytes, {} even relative to {}; mount(2) takes at most {}",
            absolute.len(),
            relative.len(),
            base.display(),
            limit - 1
        ))
    }

    fn render(&self, base: &Path, label: Option<&str>, relative: bool) -> Vec<u8> {
        let show = |p: &PathBuf| {
            let shown = if relative {
                p.strip_prefix(base).unwrap_or(p)
            } else {
                p.as_path()
            };
            let bytes = shown.as_os_str().as_bytes();
            if bytes.is_empty() {
                b".".to_vec()
            } else {
                escape_layer_path(bytes)
            }
        };
        let option = |key: &str, value: &[u8]| [key.as_bytes(), b"=", value].concat();
        let mut lowerdir: Vec<Vec<u8>> = self.lower.iter().map(show).collect();
        if !self.data_lower.is_empty() {
            lowerdir.push(Vec::new());
            lowerdir.extend(self.data_lower.iter().map(show));
        }
        let mut parts = vec![option("lowerdir", &lowerdir.join(&b':'))];
        if let Some(upper) = &self.upper {
            parts.push(option("upperdir", &show(upper)));
        }
        if let Some(work) = &self.work {
            parts.push(option("workdir", &show(work)));
        }
        parts.extend(self.other.iter().map(|o| o.as_bytes().to_vec()));
        if let Some(label) = label {
            parts.push(format!("context=\"{label}\"").into_bytes());
        }
        parts.join(&b',')
    }
}

/// Checks that a label can be written as `context="<label>"` and looks like a full
/// context (`user:role:type:level`).
pub(crate) fn check_label_for_mount(label: &str) -> Result<(), String> {
    if label.split(':').count() < 4 {
        return Err(format!(
            "label {label:?} is not a full context user:role:type:level"
        ));
    }
    if let Some(c) = label
        .chars()
        .find(|c| *c == '"' || *c == '\\' || c.is_whitespace() || c.is_control())
    {
        return Err(format!("label {label:?} contains {c:?}"));
    }
    Ok(())
}

/// Splits a raw (octal-escaped) lowerdir value on its `:` separators. A `:` right
/// after an escaped backslash (`\134:`, pre-6.5 kernels) belongs to the path; a `:`
/// in a path shown by 6.5+ is `\072` and never splits. Empty segments mark `::`.
/// With `split` false the whole value is one path (upperdir, workdir): the kernel shows
/// those as typed too, so overlay's escapes (`\,`, `\:`, `\\`, shown `\134,` ...) are
/// undone the same way.
fn split_layers(raw: &[u8], split: bool) -> Vec<Vec<u8>> {
    const ESCAPED_BACKSLASH: &[u8] = b"\\134";
    let mut segments = Vec::new();
    let mut current = Vec::new();
    let mut rest = raw;
    while let Some(&byte) = rest.first() {
        if let Some(after) = rest.strip_prefix(ESCAPED_BACKSLASH) {
            // Overlay escape: the next byte is literal.
            match after.first() {
                Some(&next) => {
                    current.push(next);
                    rest = &after[1..];
                }
                None => rest = after,
            }
            continue;
        }
        if split && byte == b':' {
            segments.push(unescape(&std::mem::take(&mut current)));
        } else {
            current.push(byte);
        }
        rest = &rest[1..];
    }
    segments.push(unescape(&current));
    segments
}

/// An upperdir or workdir value decoded (see [`split_layers`]).
fn layer_path(raw: &[u8]) -> Vec<u8> {
    split_layers(raw, false).pop().unwrap_or_default()
}

/// Escapes the characters overlay's option parser treats specially.
fn escape_layer_path(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    for &byte in path {
        if matches!(byte, b'\\' | b':' | b',') {
            out.push(b'\\');
        }
        out.push(byte);
    }
    out
}

fn common_ancestor<'a>(mut paths: impl Iterator<Item = &'a PathBuf>) -> PathBuf {
    let Some(first) = paths.next() else {
        return PathBuf::from("/");
    };
    let mut common: Vec<Component> = first.components().collect();
    for path in paths {
        let shared = common
            .iter()
            .zip(path.components())
            .take_while(|(a, b)| **a == *b)
            .count();
        common.truncate(shared);
    }
    // A layer itself must stay a path below the base, never the base itself.
    common.iter().collect::<PathBuf>()
}

/// Finds the directory the relative layer paths of an overlay were given against:
/// tries `<upperdir>/../..` and `<mount point>/../..` (docker's `<driver>/<id>/diff`
/// and `<driver>/<id>/merged`), then their parents, and returns the first where every
/// relative layer is an existing directory. `None` when nothing fits.
pub fn find_relative_base(options: &OverlayOptions, mount_point: &Path) -> Option<PathBuf> {
    let relative = options.relative_paths();
    if relative.is_empty() {
        return None;
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    let mut push = |p: Option<&Path>| {
        if let Some(p) = p {
            if !candidates.iter().any(|c| c == p) {
                candidates.push(p.to_path_buf());
            }
        }
    };
    let upper = options.upper.as_deref().filter(|u| u.is_absolute());
    push(upper.and_then(Path::parent).and_then(Path::parent));
    push(mount_point.parent().and_then(Path::parent));
    push(upper.and_then(Path::parent));
    push(mount_point.parent());
    candidates
        .into_iter()
        .find(|base| relative.iter().all(|p| base.join(p).is_dir()))
}

/// The page size, the limit of `mount(2)` data.
pub fn page_size() -> usize {
    rustix::param::page_size()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(options: &str) -> Vec<OsString> {
        options.split(',').map(OsString::from).collect()
    }

    /// The data of a mount whose options are all text.
    fn text(data: &MountData) -> &str {
        data.data.to_str().expect("UTF-8 options")
    }

    const LABEL: &str = "system_u:object_r:container_file_t:s0:c1,c2";

    #[test]
    fn docker_overlay2_options_keep_the_overlay_ones_and_add_context() {
        let options = OverlayOptions::from_super_options(&raw(
            "rw,lowerdir=/var/lib/docker/overlay2/l/AB:/var/lib/docker/overlay2/l/CD,upperdir=/var/lib/docker/overlay2/x/diff,workdir=/var/lib/docker/overlay2/x/work,index=off,redirect_dir=on,uuid=on",
        ))
        .unwrap();
        let data = options.mount_data(Some(LABEL), 4096).unwrap();
        assert_eq!(data.cwd, None);
        assert_eq!(
            data.data,
            "lowerdir=/var/lib/docker/overlay2/l/AB:/var/lib/docker/overlay2/l/CD,upperdir=/var/lib/docker/overlay2/x/diff,workdir=/var/lib/docker/overlay2/x/work,index=off,redirect_dir=on,uuid=on,context=\"system_u:object_r:container_file_t:s0:c1,c2\""
        );
    }

    #[test]
    fn security_options_and_rw_ro_are_dropped() {
        let options = OverlayOptions::from_super_options(&[
            "ro".into(),
            "seclabel".into(),
            "lowerdir=/a:/b".into(),
            "userxattr".into(),
            "context=\"u:r:t:s0:c1,c2\"".into(),
            "rootcontext=u:r:t:s0".into(),
        ])
        .unwrap();
        assert_eq!(options.upper, None);
        assert_eq!(options.other, vec!["userxattr"]);
        assert_eq!(
            options.mount_data(None, 4096).unwrap().data,
            "lowerdir=/a:/b,userxattr"
        );
    }

    #[test]
    fn relative_layers_must_be_resolved_before_rendering() {
        let options = OverlayOptions::from_super_options(&raw(
            "rw,lowerdir=l/AAAA:l/BBBB,upperdir=/d/x/diff,workdir=/d/x/work",
        ))
        .unwrap();
        assert_eq!(
            options.relative_paths(),
            vec![Path::new("l/AAAA"), Path::new("l/BBBB")]
        );
        let err = options.mount_data(None, 4096).unwrap_err();
        assert!(err.contains("l/AAAA"), "{err}");
        let resolved = options.resolved_against(Path::new("/d"));
        assert_eq!(
            resolved.mount_data(None, 4096).unwrap().data,
            "lowerdir=/d/l/AAAA:/d/l/BBBB,upperdir=/d/x/diff,workdir=/d/x/work"
        );
    }

    #[test]
    fn escaped_separators_from_old_and_new_kernels() {
        // Pre-6.5: the typed escape `\:` shows as `\134:`. 6.5+: `\072`.
        let old = OverlayOptions::from_super_options(&raw(
            "lowerdir=/a\\134:b:/c\\040d,upperdir=/u\\054x,workdir=/w",
        ))
        .unwrap();
        assert_eq!(
            old.lower,
            vec![PathBuf::from("/a:b"), PathBuf::from("/c d")]
        );
        assert_eq!(old.upper.as_deref(), Some(Path::new("/u,x")));
        let new = OverlayOptions::from_super_options(&raw("lowerdir=/a\\072b:/c")).unwrap();
        assert_eq!(new.lower, vec![PathBuf::from("/a:b"), PathBuf::from("/c")]);
        assert_eq!(
            old.mount_data(None, 4096).unwrap().data,
            "lowerdir=/a\\:b:/c d,upperdir=/u\\,x,workdir=/w"
        );
    }

    /// The kernel keeps upperdir/workdir as typed, overlay escapes included, and shows
    /// them through seq_escape (measured on 6.18): typed `u\,p` shows `u\134\054p`.
    #[test]
    fn upper_and_work_undo_overlay_escapes_as_the_kernel_shows_them() {
        let options = OverlayOptions::from_super_options(&raw(
            "lowerdir=/l,upperdir=/t/u\\134\\054p,workdir=/t/w\\134\\134k\\134:x",
        ))
        .unwrap();
        assert_eq!(options.upper.as_deref(), Some(Path::new("/t/u,p")));
        assert_eq!(options.work.as_deref(), Some(Path::new("/t/w\\k:x")));
        assert_eq!(
            text(&options.mount_data(None, 4096).unwrap()),
            "lowerdir=/l,upperdir=/t/u\\,p,workdir=/t/w\\\\k\\:x"
        );
    }

    #[test]
    fn data_only_layers_keep_their_double_colon() {
        let options = OverlayOptions::from_super_options(&raw(
            "lowerdir=/a:/b::/d1::/d2,redirect_dir=follow",
        ))
        .unwrap();
        assert_eq!(options.lower.len(), 2);
        assert_eq!(options.data_lower.len(), 2);
        assert_eq!(
            options.mount_data(None, 4096).unwrap().data,
            "lowerdir=/a:/b::/d1:/d2,redirect_dir=follow"
        );
    }

    #[test]
    fn too_long_for_a_page_goes_relative_to_the_common_ancestor() {
        let lower: Vec<String> = (0..50)
            .map(|i| format!("/var/lib/docker/overlay2/{i:064}/diff"))
            .collect();
        let options = OverlayOptions::from_super_options(&[
            format!("lowerdir={}", lower.join(":")).into(),
            "upperdir=/var/lib/docker/overlay2/top/diff".into(),
            "workdir=/var/lib/docker/overlay2/top/work".into(),
        ])
        .unwrap();
        let data = options.mount_data(Some(LABEL), 4096).unwrap();
        assert_eq!(
            data.cwd.as_deref(),
            Some(Path::new("/var/lib/docker/overlay2"))
        );
        assert!(text(&data).starts_with(&format!("lowerdir={:064}/diff:", 0)));
        assert!(text(&data)
            .ends_with(",upperdir=top/diff,workdir=top/work,context=\"system_u:object_r:container_file_t:s0:c1,c2\""));
        assert!(data.data.len() < 4096);
        let err = options.mount_data(Some(LABEL), 1000).unwrap_err();
        assert!(err.contains("mount(2) takes at most 999"), "{err}");
    }

    #[test]
    fn bad_labels_and_missing_lowerdir_are_refused() {
        let options = OverlayOptions::from_super_options(&raw("lowerdir=/a")).unwrap();
        assert!(options.mount_data(Some("container_file_t"), 4096).is_err());
        assert!(options
            .mount_data(Some("u:r:t:s0\",upperdir=/x"), 4096)
            .unwrap_err()
            .contains("'\"'"));
        assert!(OverlayOptions::from_super_options(&raw("rw,upperdir=/u,workdir=/w")).is_err());
        assert!(OverlayOptions::from_super_options(&raw("lowerdir=/a,upperdir=/u")).is_err());
    }

    #[test]
    fn relative_base_is_found_from_the_docker_layout() {
        let dir = tempfile::tempdir().unwrap();
        let driver = dir.path();
        for d in ["l/AAAA", "l/BBBB", "x/diff", "x/work", "x/merged"] {
            std::fs::create_dir_all(driver.join(d)).unwrap();
        }
        let upper_absolute = OverlayOptions::from_super_options(&[
            "lowerdir=l/AAAA:l/BBBB".into(),
            format!("upperdir={}/x/diff", driver.display()).into(),
            format!("workdir={}/x/work", driver.display()).into(),
        ])
        .unwrap();
        assert_eq!(
            find_relative_base(&upper_absolute, &driver.join("x/merged")).as_deref(),
            Some(driver)
        );
        let all_relative = OverlayOptions::from_super_options(&raw(
            "lowerdir=l/AAAA:l/BBBB,upperdir=x/diff,workdir=x/work",
        ))
        .unwrap();
        assert_eq!(
            find_relative_base(&all_relative, &driver.join("x/merged")).as_deref(),
            Some(driver)
        );
        let missing = OverlayOptions::from_super_options(&raw(
            "lowerdir=l/ZZZZ,upperdir=x/diff,workdir=x/work",
        ))
        .unwrap();
        assert_eq!(find_relative_base(&missing, &driver.join("x/merged")), None);
    }

    proptest::proptest! {
        #[test]
        fn layer_paths_survive_escape_and_split(names in proptest::collection::vec("[a-z:, ]{1,8}", 1..5)) {
            let paths: Vec<PathBuf> = names.iter().map(|n| PathBuf::from(format!("/{n}"))).collect();
            let options = OverlayOptions { lower: paths.clone(), data_lower: vec![], upper: None, work: None, other: vec![] };
            let data = options.mount_data(None, 1 << 20).unwrap();
            // Show the rendered value the way a pre-6.5 kernel shows it in mountinfo.
            let shown = text(&data).strip_prefix("lowerdir=").unwrap()
                .replace('\\', "\\134").replace(' ', "\\040").replace(',', "\\054");
            let back = OverlayOptions::from_super_options(&[format!("lowerdir={shown}").into()]).unwrap();
            proptest::prop_assert_eq!(back.lower, paths);
        }

        /// Layer names of any bytes but NUL and `/`, shown the way the kernel shows them
        /// (seq_escape of `, \t\n\\`; other bytes, UTF-8 or not, as they are), come back
        /// exactly, and the data for the new mount carries them exactly.
        #[test]
        fn layer_paths_of_any_bytes_survive(names in proptest::collection::vec(
            proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just(b' '), proptest::strategy::Just(b'\t'),
                proptest::strategy::Just(b'\n'), proptest::strategy::Just(b'\\'),
                proptest::strategy::Just(b':'), proptest::strategy::Just(b','),
                b'a'..=b'z', 0x80u8..=0xff,
            ], 1..8), 1..4)) {
            let paths: Vec<PathBuf> = names.iter()
                .map(|n| PathBuf::from(OsString::from_vec([b"/".as_slice(), n].concat())))
                .collect();
            let options = OverlayOptions {
                lower: paths.clone(), data_lower: vec![], upper: Some(paths[0].clone()),
                work: Some(paths[0].join("w")), other: vec![],
            };
            let data = options.mount_data(None, 1 << 20).unwrap().data;
            // The kernel splits the data on commas that no backslash escapes and shows
            // each option's value through seq_escape (`\`, `,`, space, tab, newline).
            let mut raw = vec![Vec::new()];
            let mut escaped = false;
            for &b in data.as_bytes() {
                let option = raw.last_mut().unwrap();
                match b {
                    b',' if !escaped => raw.push(Vec::new()),
                    b'\\' | b',' | b' ' | b'\t' | b'\n' => {
                        option.extend(format!("\\{b:03o}").bytes())
                    }
                    _ => option.push(b),
                }
                escaped = b == b'\\' && !escaped;
            }
            let raw: Vec<OsString> = raw.into_iter().map(OsString::from_vec).collect();
            let back = OverlayOptions::from_super_options(&raw).unwrap();
            proptest::prop_assert_eq!(&back.lower, &paths);
            proptest::prop_assert_eq!(&back.upper, &options.upper);
            proptest::prop_assert_eq!(&back.work, &options.work);
            proptest::prop_assert_eq!(back.mount_data(None, 1 << 20).unwrap().data, data);
        }
    }
}
