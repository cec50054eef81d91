//! Reading the sources: the engines' records under their data roots and, on an SELinux
//! host, every live process's label. Nothing that cannot be read stops the reading; it
//! is said in [`Gathered::problems`], for the caller to log or show.

use std::path::Path;

use engine_record::{docker_containers, storage_containers};
use selinux_host::SelinuxHost;

use crate::{McsrunHold, Sources};

/// The sources as read, and one line per thing that could not be read.
#[derive(Debug, Default)]
pub struct Gathered {
    pub sources: Sources,
    pub problems: Vec<String>,
}

/// Reads docker's records under `docker_data_root`, containers/storage's under
/// `containers_storage` and, when `host` has SELinux enabled, the processes' labels;
/// `mcsrun` are the store's holds the caller wants counted.
pub fn gather(
    docker_data_root: &Path,
    containers_storage: &Path,
    host: &SelinuxHost,
    mcsrun: Vec<McsrunHold>,
) -> Gathered {
    let mut gathered = Gathered::default();
    gathered.sources.mcsrun = mcsrun;
    for held in [
        docker_containers(docker_data_root),
        storage_containers(containers_storage),
    ] {
        gathered.sources.engines.extend(held.containers);
        gathered.problems.extend(
            held.problems
                .iter()
                .map(|p| format!("engine record not read: {p}")),
        );
    }
    if host.is_enabled() {
        match host.process_labels() {
            Ok(found) => {
                if !found.unreadable.is_empty() {
                    gathered.problems.push(format!(
                        "the labels of {} processes could not be read (pids {:?}); levels they run at are not counted",
                        found.unreadable.len(),
                        found.unreadable
                    ));
                }
                gathered.sources.processes = found.labels;
            }
            Err(e) => gathered.problems.push(e.to_string()),
        }
    }
    gathered
}
