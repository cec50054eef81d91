//! containerd's CRI plugin and the files it makes for a pod: `hostname`, `hosts` and
//! `resolv.conf` under `<root>/io.containerd.grpc.v1.cri/sandboxes/<sandbox-id>/`, and the
//! pod's `/dev/shm` tmpfs under `<state>/io.containerd.grpc.v1.cri/sandboxes/<sandbox-id>/shm`,
//! bound into the sandbox and each of its containers. With its own SELinux support on, CRI
//! relabels the three files to the container's mount label and mounts the shm tmpfs with
//! the sandbox's; every container of the pod has the sandbox's level, so the files carry
//! that level. The record is the spec's own `io.kubernetes.cri.sandbox-id` annotation: a
//! bind counts only when its source lies in the directory of exactly that sandbox, at the
//! destination CRI binds it to.

use std::path::Path;

use crate::{BindMount, FileRequest, Sharing};

/// The annotation naming the pod's sandbox (on the sandbox itself, its own id).
pub const SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";

/// The files CRI makes, by the path they are bound at.
const POD_FILES: [(&str, &str); 4] = [
    ("/etc/hostname", "hostname"),
    ("/etc/hosts", "hosts"),
    ("/etc/resolv.conf", "resolv.conf"),
    ("/dev/shm", "shm"),
];

/// The CRI sandbox directory a bind source lies in, when it is one of the pod's files
/// for `sandbox` bound where CRI binds it.
fn pod_file_dir<'a>(sandbox: &str, m: &BindMount<'a>) -> Option<&'a Path> {
    let (_, name) = POD_FILES.iter().find(|(dest, _)| *dest == m.destination)?;
    let source = Path::new(m.source);
    (source.file_name()? == *name).then_some(())?;
    let dir = source.parent()?;
    (dir.file_name()? == sandbox).then_some(())?;
    let sandboxes = dir.parent()?;
    (sandboxes.file_name()? == "sandboxes"
        && sandboxes.parent()?.file_name()? == "io.containerd.grpc.v1.cri")
        .then_some(dir)
}

/// What CRI would have relabelled for a container of `sandbox`: each of the pod's files,
/// to the container's (the pod's) level. `is_sandbox_dir(dir)` tells whether `dir` is
/// really a sandbox directory (checked on disk by the caller).
pub fn requests(
    sandbox: &str,
    mounts: &[BindMount<'_>],
    is_sandbox_dir: &dyn Fn(&Path) -> bool,
) -> Vec<FileRequest> {
    if sandbox.is_empty() || sandbox.contains('/') || sandbox == "." || sandbox == ".." {
        return Vec::new();
    }
    mounts
        .iter()
        .filter_map(|m| {
            let dir = pod_file_dir(sandbox, m)?;
            is_sandbox_dir(dir).then(|| FileRequest {
                index: m.index,
                sharing: Sharing::Private,
                reason: format!(
                    "containerd CRI's {} for pod sandbox {sandbox} ({})",
                    m.destination, m.source
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SB: &str = "9c4beb5713e7ffb970c1d6d18bf84f1fb2ca9f3d5fb7f75621e7bebdee2f99d7";

    fn bind<'a>(index: usize, destination: &'a str, source: &'a str) -> BindMount<'a> {
        BindMount::new(index, destination, source)
    }

    #[test]
    fn a_pods_files_are_asked_for_at_the_pods_level() {
        // As containerd 1.6 binds them into a pod's container (captured).
        let root = format!("/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/{SB}");
        let state = format!("/run/containerd/io.containerd.grpc.v1.cri/sandboxes/{SB}");
        let sources = [
            format!("{root}/hostname"),
            format!("{root}/hosts"),
            format!("{root}/resolv.conf"),
            format!("{state}/shm"),
            format!("{root}/hosts"),
            "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/other/hosts".to_string(),
        ];
        let mounts = [
            bind(0, "/etc/hostname", &sources[0]),
            bind(1, "/etc/hosts", &sources[1]),
            bind(2, "/etc/resolv.conf", &sources[2]),
            bind(3, "/dev/shm", &sources[3]),
            // Bound elsewhere, or another pod's: not this pod's file.
            bind(4, "/data/hosts", &sources[4]),
            bind(5, "/etc/hosts", &sources[5]),
        ];
        let got = requests(SB, &mounts, &|_| true);
        let summary: Vec<(usize, Sharing)> = got.iter().map(|f| (f.index, f.sharing)).collect();
        assert_eq!(
            summary,
            [
                (0, Sharing::Private),
                (1, Sharing::Private),
                (2, Sharing::Private),
                (3, Sharing::Private)
            ]
        );
        assert!(
            got[3]
                .reason
                .starts_with("containerd CRI's /dev/shm for pod sandbox 9c4b"),
            "{}",
            got[3].reason
        );
        // The directory must be a sandbox directory on disk.
        assert!(requests(SB, &mounts, &|_| false).is_empty());
        // Paths that only look alike.
        let lookalike = [bind(0, "/etc/hosts", "/srv/sandboxes/9c4b/hosts")];
        assert!(requests("9c4b", &lookalike, &|_| true).is_empty());
        for bad in ["", ".", "..", "a/b"] {
            assert!(requests(bad, &mounts, &|_| true).is_empty(), "{bad:?}");
        }
    }
}
