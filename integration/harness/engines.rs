//! A private containerd and dockerd whose OCI runtime is the binary under test.
//!
//! Everything lives below one base directory (sockets, roots, state, runc roots, logs,
//! mcsrun's state dir and config), so the engines never meet the host's own daemons.
//! [`Engines`] starts them once; its `Drop` (and [`Layout::tear_down`], which also clears
//! what an aborted earlier run left behind) removes containers, stops the daemons by pid,
//! kills leftover shims and unmounts everything below the base directory.

use crate::command::{run_with_timeout, wait_until, CommandOutput};
use crate::examples;
use crate::image::{self, ImageArchives};
use serde_json::{json, Value};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The docker client of the `docker.io` package (another client may come first on PATH).
pub const DOCKER_CLIENT: &str = "/usr/bin/docker";
/// The daemon of the `docker.io` package.
pub const DOCKERD: &str = "/usr/sbin/dockerd";
/// The name under which dockerd knows the runtime under test (its `default-runtime`).
pub const DOCKER_RUNTIME_NAME: &str = "mcsrun";
/// The CRI runtime handler (a RuntimeClass's `handler`) that also runs the runtime under
/// test, beside the default `runc` handler whose BinaryName is set to it.
pub const CRI_RUNTIME_HANDLER: &str = "mcsrun";
/// Debian packages the suite needs (jq for examples/make-bundle.sh), with a binary that
/// shows each one is there.
pub const REQUIRED_PACKAGES: [(&str, &str); 6] = [
    ("containerd", "/usr/bin/containerd"),
    ("runc", "/usr/sbin/runc"),
    ("docker.io", DOCKERD),
    ("busybox-static", "/bin/busybox"),
    ("jq", "/usr/bin/jq"),
    ("tar", "/bin/tar"),
];

const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);
const DAEMON_START_TIMEOUT: Duration = Duration::from_secs(60);
const DAEMON_STOP_GRACE: Duration = Duration::from_secs(20);

/// Every path the private engines use, derived from one base directory.
#[derive(Debug, Clone)]
pub struct Layout {
    pub base: PathBuf,
}

impl Layout {
    pub fn new(base: impl Into<PathBuf>) -> Layout {
        Layout { base: base.into() }
    }
    pub fn images(&self) -> PathBuf {
        self.base.join("images")
    }
    pub fn containerd_dir(&self) -> PathBuf {
        self.base.join("containerd")
    }
    pub fn containerd_socket(&self) -> PathBuf {
        self.containerd_dir().join("containerd.sock")
    }
    pub fn containerd_config(&self) -> PathBuf {
        self.containerd_dir().join("config.toml")
    }
    pub fn containerd_log(&self) -> PathBuf {
        self.containerd_dir().join("containerd.log")
    }
    pub fn containerd_pid_file(&self) -> PathBuf {
        self.containerd_dir().join("containerd.pid")
    }
    /// The bundle directory the runc shim gives the runtime for container `id` of the
    /// containerd namespace `namespace` ("moby" for dockerd, "k8s.io" for CRI).
    pub fn bundle(&self, namespace: &str, id: &str) -> PathBuf {
        self.containerd_dir()
            .join("state/io.containerd.runtime.v2.task")
            .join(namespace)
            .join(id)
    }
    /// runc's `--root` for containers made by containerd's CRI plugin and by `ctr run`
    /// (the runc shim adds the containerd namespace below it).
    pub fn runc_root(&self) -> PathBuf {
        self.containerd_dir().join("runc")
    }
    /// runc's `--root` of the CRI runtime handler [`CRI_RUNTIME_HANDLER`]: apart from the
    /// default handler's, so a record's root shows which handler ran the container.
    pub fn handler_runc_root(&self) -> PathBuf {
        self.containerd_dir().join("runc-handler")
    }
    pub fn docker_dir(&self) -> PathBuf {
        self.base.join("docker")
    }
    pub fn docker_socket(&self) -> PathBuf {
        self.docker_dir().join("docker.sock")
    }
    pub fn docker_data_root(&self) -> PathBuf {
        self.docker_dir().join("data")
    }
    pub fn docker_exec_root(&self) -> PathBuf {
        self.docker_dir().join("exec")
    }
    pub fn docker_daemon_json(&self) -> PathBuf {
        self.docker_dir().join("daemon.json")
    }
    pub fn docker_log(&self) -> PathBuf {
        self.docker_dir().join("dockerd.log")
    }
    /// The pid file dockerd writes itself (named in daemon.json).
    pub fn docker_pid_file(&self) -> PathBuf {
        self.docker_dir().join("dockerd.pid")
    }
    /// The pid of the dockerd process this harness launched (written before dockerd
    /// writes its own, so a daemon that dies early is still found).
    pub fn docker_launch_pid_file(&self) -> PathBuf {
        self.docker_dir().join("dockerd.launch.pid")
    }
    pub fn docker_client_config(&self) -> PathBuf {
        self.docker_dir().join("client")
    }
    pub fn mcsrun_dir(&self) -> PathBuf {
        self.base.join("mcsrun")
    }
    /// `MCSRUN_STATE_DIR` of every mcsrun the engines run.
    pub fn mcsrun_state_dir(&self) -> PathBuf {
        self.mcsrun_dir().join("state")
    }
    /// `MCSRUN_CONFIG` of every mcsrun the engines run.
    pub fn mcsrun_config(&self) -> PathBuf {
        self.mcsrun_dir().join("config.toml")
    }
    /// mcsrun's `log_file`: one JSON line per decision and action.
    pub fn mcsrun_log(&self) -> PathBuf {
        self.mcsrun_dir().join("decisions.log")
    }
    /// A shell fragment (`export NAME=value` lines) for people and scripts that use the
    /// engines this harness left running.
    pub fn env_file(&self) -> PathBuf {
        self.base.join("env.sh")
    }

    /// Every runc root in use below the base: one per containerd namespace, and dockerd's
    /// `<exec-root>/runtime-<name>/moby`.
    fn runc_roots(&self) -> Vec<PathBuf> {
        let mut roots = subdirectories(&self.runc_root());
        roots.extend(subdirectories(&self.handler_runc_root()));
        for runtime_dir in subdirectories(&self.docker_exec_root()) {
            let is_runtime_root = runtime_dir
                .file_name()
                .is_some_and(|name| name.as_bytes().starts_with(b"runtime-"));
            if is_runtime_root {
                roots.extend(subdirectories(&runtime_dir));
            }
        }
        roots
    }

    /// Mounts below the base directory and processes naming it, as messages.
    pub fn remaining_traces(&self) -> Vec<String> {
        let mut traces: Vec<String> = mounts_below(&self.base)
            .into_iter()
            .map(|point| format!("still mounted: {}", point.display()))
            .collect();
        traces.extend(
            processes_mentioning(&self.base)
                .into_iter()
                .map(|pid| format!("still running: pid {pid}")),
        );
        traces
    }

    /// Removes whatever runs or is mounted below the base directory, whether this process
    /// or an aborted earlier run started it. Idempotent, never panics; returns what it
    /// could not do.
    pub fn tear_down(&self, runc: &Path) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.base.exists() {
            return problems;
        }
        // Probe only sockets that exist: a client waits a long while for a missing one.
        let docker_up = self.docker_socket().exists()
            && docker_command(self, ["version"]).map(|o| o.success()) == Ok(true);
        if docker_up {
            if let Ok(listing) = docker_command(self, ["ps", "-aq"]) {
                let ids: Vec<&str> = listing.stdout.split_whitespace().collect();
                if !ids.is_empty() {
                    let mut args = vec!["rm", "-f"];
                    args.extend(ids);
                    if let Ok(output) = docker_command(self, args) {
                        if !output.success() {
                            problems.push(output.describe());
                        }
                    }
                }
            }
        }
        stop_recorded_daemon(&self.docker_pid_file(), &mut problems);
        stop_recorded_daemon(&self.docker_launch_pid_file(), &mut problems);

        let containerd_up = self.containerd_socket().exists()
            && ctr_command(self, "default", ["version"]).success();
        if containerd_up {
            remove_all_containerd_containers(self, &mut problems);
        }
        for root in self.runc_roots() {
            for container in subdirectories(&root) {
                let Some(id) = container.file_name() else {
                    continue;
                };
                let output = run_with_timeout(
                    Command::new(runc).arg("--root").arg(&root).args([
                        OsStr::new("delete"),
                        OsStr::new("--force"),
                        id,
                    ]),
                    CLIENT_TIMEOUT,
                );
                if !output.success() {
                    problems.push(output.describe());
                }
            }
        }
        stop_recorded_daemon(&self.containerd_pid_file(), &mut problems);
        for pid in processes_mentioning(&self.base) {
            // Shims and anything else started for these engines; they name the base dir.
            kill_and_wait(pid, None);
        }
        problems.extend(unmount_below(&self.base));
        problems
    }
}

fn subdirectories(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .map(|entry| entry.path())
        .collect()
}

fn docker_command<I, S>(layout: &Layout, args: I) -> Result<CommandOutput, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    if !Path::new(DOCKER_CLIENT).exists() {
        return Err(format!("{DOCKER_CLIENT} is missing"));
    }
    let mut command = Command::new(DOCKER_CLIENT);
    command
        .env("DOCKER_CONFIG", layout.docker_client_config())
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .arg("-H")
        .arg(format!("unix://{}", layout.docker_socket().display()))
        .args(args);
    Ok(run_with_timeout(&mut command, CLIENT_TIMEOUT))
}

fn ctr_command<I, S>(layout: &Layout, namespace: &str, args: I) -> CommandOutput
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_with_timeout(
        Command::new("ctr")
            .arg("--address")
            .arg(layout.containerd_socket())
            .args(["--namespace", namespace])
            .args(args),
        CLIENT_TIMEOUT,
    )
}

fn remove_all_containerd_containers(layout: &Layout, problems: &mut Vec<String>) {
    let namespaces = ctr_command(layout, "default", ["namespaces", "ls", "-q"]);
    for namespace in namespaces.stdout.split_whitespace() {
        let tasks = ctr_command(layout, namespace, ["tasks", "ls", "-q"]);
        for task in tasks.stdout.split_whitespace() {
            ctr_command(layout, namespace, ["tasks", "kill", "-s", "SIGKILL", task]);
        }
        for task in tasks.stdout.split_whitespace() {
            wait_until(Duration::from_secs(10), || {
                let listing = ctr_command(layout, namespace, ["tasks", "ls"]);
                !listing
                    .stdout
                    .lines()
                    .any(|line| line.starts_with(task) && line.contains("RUNNING"))
            });
            let output = ctr_command(layout, namespace, ["tasks", "rm", "-f", task]);
            if !output.success() {
                problems.push(output.describe());
            }
        }
        let containers = ctr_command(layout, namespace, ["containers", "ls", "-q"]);
        for container in containers.stdout.split_whitespace() {
            let output = ctr_command(layout, namespace, ["containers", "rm", container]);
            if !output.success() {
                problems.push(output.describe());
            }
        }
    }
}

fn read_pid(pid_file: &Path) -> Option<i32> {
    fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|pid| *pid > 1)
}

fn process_alive(pid: i32) -> bool {
    // A zombie still answers kill(0); its state letter in /proc/<pid>/stat is 'Z'.
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    state != Some("Z")
}

/// SIGTERM, then SIGKILL after the grace period; reaps `child` when it is ours.
fn kill_and_wait(pid: i32, child: Option<&mut Child>) {
    // SAFETY: kill(2) on a pid this harness started (read from its own pid files, its
    // own Child handles, or a process whose command line names the harness's base dir).
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let stopped = wait_until(DAEMON_STOP_GRACE, || !process_alive(pid));
    if !stopped {
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        wait_until(Duration::from_secs(5), || !process_alive(pid));
    }
    if let Some(child) = child {
        let _ = child.wait();
    }
}

fn stop_recorded_daemon(pid_file: &Path, problems: &mut Vec<String>) {
    if let Some(pid) = read_pid(pid_file) {
        if process_alive(pid) {
            kill_and_wait(pid, None);
            if process_alive(pid) {
                problems.push(format!(
                    "pid {pid} from {} survived SIGKILL",
                    pid_file.display()
                ));
            }
        }
    }
}

/// Pids of processes (other than this one) whose command line contains `dir`.
pub fn processes_mentioning(dir: &Path) -> Vec<i32> {
    let needle = dir.as_os_str().as_bytes();
    let own_pid = std::process::id() as i32;
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != own_pid)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| cmdline.windows(needle.len()).any(|w| w == needle))
        })
        .filter(|pid| process_alive(*pid))
        .collect()
}

/// Mount points at or below `dir`, deepest first, from /proc/self/mountinfo.
pub fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    let Ok(mountinfo) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let prefix = dir.as_os_str().as_bytes();
    let mut mounts: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|point| {
            let bytes = point.as_bytes();
            bytes.starts_with(prefix)
                && (bytes.len() == prefix.len() || bytes[prefix.len()] == b'/')
        })
        .map(PathBuf::from)
        .collect();
    mounts.sort_by_key(|point| std::cmp::Reverse(point.as_os_str().len()));
    mounts.dedup();
    mounts
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
pub fn unescape_mountinfo(field: &str) -> std::ffi::OsString {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match (bytes[i], octal) {
            (b'\\', Some(digits)) => {
                out.push(
                    digits
                        .iter()
                        .fold(0u8, |value, digit| value * 8 + (digit - b'0')),
                );
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    std::ffi::OsString::from_vec(out)
}

fn unmount_below(dir: &Path) -> Vec<String> {
    for _pass in 0..5 {
        let mounts = mounts_below(dir);
        if mounts.is_empty() {
            return Vec::new();
        }
        for point in mounts {
            let Ok(c_path) = std::ffi::CString::new(point.as_os_str().as_bytes()) else {
                continue;
            };
            // SAFETY: umount2(2) with a valid NUL-terminated path below our base dir.
            let plain = unsafe { libc::umount2(c_path.as_ptr(), 0) };
            if plain != 0 {
                // SAFETY: as above; lazy detach for mounts still busy.
                unsafe { libc::umount2(c_path.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
    mounts_below(dir)
        .into_iter()
        .map(|point| format!("could not unmount {}", point.display()))
        .collect()
}

/// Installs the Debian packages the engines need, when any is missing.
pub fn ensure_packages() -> Result<(), String> {
    let missing: Vec<&str> = REQUIRED_PACKAGES
        .iter()
        .filter(|(_, binary)| !Path::new(binary).exists())
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let install = |missing: &[&str]| {
        run_with_timeout(
            Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["install", "-y", "--no-install-recommends"])
                .args(missing),
            Duration::from_secs(900),
        )
    };
    if install(&missing).success() {
        return Ok(());
    }
    run_with_timeout(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .arg("update"),
        Duration::from_secs(600),
    )
    .require_success()?;
    install(&missing).require_success().map(|_| ())
}

/// How the engines are set up.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub layout: Layout,
    /// The runc-compatible binary containerd and dockerd run (mcsrun under test).
    pub runtime: PathBuf,
    /// The real runc, for mcsrun's `runtime` key and for cleanup.
    pub runc: PathBuf,
    /// `MCSRUN_SELINUX` given to every mcsrun the engines run.
    pub selinux_mode: String,
    /// Leave the daemons running when this process exits (no parent-death signal).
    pub outlive_this_process: bool,
}

struct Daemon {
    child: Child,
}

/// The running private engines. Dropping it tears them down.
pub struct Engines {
    pub settings: EngineSettings,
    containerd: Option<Daemon>,
    dockerd: Option<Daemon>,
    /// Set once torn down, or when asked to leave the engines running.
    finished: bool,
}

impl Engines {
    /// Clears a previous run's leftovers, builds the image, writes the configs, starts
    /// containerd and dockerd and loads the image into both. On error everything started
    /// so far is torn down again (by `Drop`).
    pub fn start(settings: EngineSettings) -> Result<Engines, String> {
        let layout = settings.layout.clone();
        // A previous run's engines may be half dead (its clients then fail); what counts
        // is that nothing of it still runs or is mounted.
        let problems = layout.tear_down(&settings.runc);
        let traces = layout.remaining_traces();
        if !traces.is_empty() {
            return Err(format!(
                "cannot clear a previous run: {} ({})",
                traces.join("; "),
                problems.join("; ")
            ));
        }
        if layout.base.exists() {
            fs::remove_dir_all(&layout.base)
                .map_err(|e| format!("remove {}: {e}", layout.base.display()))?;
        }
        let mut engines = Engines {
            settings,
            containerd: None,
            dockerd: None,
            finished: false,
        };
        for dir in [
            layout.containerd_dir(),
            layout.docker_data_root(),
            layout.docker_exec_root(),
            layout.docker_client_config(),
            layout.mcsrun_dir(),
        ] {
            fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        }
        let archives = image::build_images(&layout.images(), Path::new("/bin/busybox"))?;
        engines.write_mcsrun_config("")?;
        engines.start_containerd(&archives)?;
        engines.start_dockerd(&archives)?;
        engines.write_env_file()?;
        Ok(engines)
    }

    pub fn layout(&self) -> &Layout {
        &self.settings.layout
    }

    /// Writes mcsrun's config file: the real runtime and the decision log, followed by
    /// `extra` (TOML lines) — a check uses that to make the file invalid.
    pub fn write_mcsrun_config(&self, extra: &str) -> Result<(), String> {
        let layout = self.layout();
        let text = format!(
            "runtime = {}\nlog_file = {}\n{extra}",
            toml_string(&self.settings.runc),
            toml_string(&layout.mcsrun_log()),
        );
        let path = layout.mcsrun_config();
        fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))
    }

    /// The environment every mcsrun started by the engines (and every mcsctl the checks
    /// run) gets.
    pub fn mcsrun_env(&self) -> Vec<(&'static str, PathBuf)> {
        let layout = self.layout();
        vec![
            ("MCSRUN_SELINUX", PathBuf::from(&self.settings.selinux_mode)),
            ("MCSRUN_STATE_DIR", layout.mcsrun_state_dir()),
            ("MCSRUN_CONFIG", layout.mcsrun_config()),
        ]
    }

    fn daemon_command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .stdin(Stdio::null())
            .env_remove("MCSRUN_RUNTIME")
            .env_remove("NOTIFY_SOCKET");
        for (name, value) in self.mcsrun_env() {
            command.env(name, value);
        }
        let outlive = self.settings.outlive_this_process;
        // SAFETY: only async-signal-safe calls (setsid, prctl) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                libc::setsid();
                if !outlive {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                }
                Ok(())
            });
        }
        command
    }

    fn containerd_config(&self) -> String {
        let layout = self.layout();
        let cri = "plugins.\"io.containerd.grpc.v1.cri\"";
        format!(
            r#"version = 2
root = {root}
state = {state}

[grpc]
  address = {socket}

[{cri}]
  sandbox_image = {sandbox_image}
  restrict_oom_score_adj = true

[{cri}.containerd]
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  BinaryName = {runtime}
  Root = {runc_root}
  SystemdCgroup = false

[{cri}.containerd.runtimes.{handler}]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.{handler}.options]
  BinaryName = {runtime}
  Root = {handler_runc_root}
  SystemdCgroup = false
"#,
            handler = CRI_RUNTIME_HANDLER,
            handler_runc_root = toml_string(&layout.handler_runc_root()),
            root = toml_string(&layout.containerd_dir().join("root")),
            state = toml_string(&layout.containerd_dir().join("state")),
            socket = toml_string(&layout.containerd_socket()),
            sandbox_image = toml_string(Path::new(image::SANDBOX_IMAGE)),
            runtime = toml_string(&self.settings.runtime),
            runc_root = toml_string(&layout.runc_root()),
        )
    }

    fn start_containerd(&mut self, archives: &ImageArchives) -> Result<(), String> {
        let layout = self.layout().clone();
        let config = layout.containerd_config();
        fs::write(&config, self.containerd_config())
            .map_err(|e| format!("write {}: {e}", config.display()))?;
        let log = log_file(&layout.containerd_log())?;
        let child = self
            .daemon_command("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(
                log.try_clone()
                    .map_err(|e| format!("containerd log: {e}"))?,
            )
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start containerd: {e}"))?;
        write_pid(&layout.containerd_pid_file(), child.id())?;
        self.containerd = Some(Daemon { child });
        let ready = wait_until(DAEMON_START_TIMEOUT, || {
            self.containerd_alive() && self.ctr("default", ["version"]).success()
        });
        if !ready {
            return Err(format!(
                "containerd did not answer on {} (log: {})",
                layout.containerd_socket().display(),
                tail(&layout.containerd_log())
            ));
        }
        for (namespace, archive) in [
            ("default", &archives.busybox),
            ("k8s.io", &archives.busybox),
            ("k8s.io", &archives.sandbox),
        ] {
            let mut args = vec![OsStr::new("images"), OsStr::new("import")];
            args.push(archive.as_os_str());
            self.ctr(namespace, args).require_success()?;
        }
        Ok(())
    }

    fn containerd_alive(&mut self) -> bool {
        match &mut self.containerd {
            Some(daemon) => matches!(daemon.child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// examples/daemon.json (mcsrun registered and made the default runtime) with the
    /// runtime path under test and this harness's private daemon settings added.
    fn docker_daemon_json(&self) -> Result<Value, String> {
        let (mut config, runtime_name) = examples::daemon_json()?;
        if runtime_name != DOCKER_RUNTIME_NAME {
            return Err(format!(
                "examples/daemon.json names its runtime {runtime_name:?}, the suite expects {DOCKER_RUNTIME_NAME:?}"
            ));
        }
        let layout = self.layout();
        let private = json!({
            "hosts": [format!("unix://{}", layout.docker_socket().display())],
            "data-root": layout.docker_data_root(),
            "exec-root": layout.docker_exec_root(),
            "pidfile": layout.docker_pid_file(),
            "containerd": layout.containerd_socket(),
            "deprecated-key-path": layout.docker_dir().join("key.json"),
        });
        let private = with_host_untouched(private);
        let object = config
            .as_object_mut()
            .ok_or("examples/daemon.json is not an object")?;
        for (key, value) in private.as_object().into_iter().flatten() {
            object.insert(key.clone(), value.clone());
        }
        config["runtimes"][DOCKER_RUNTIME_NAME]["path"] = json!(self.settings.runtime);
        Ok(config)
    }

    fn start_dockerd(&mut self, archives: &ImageArchives) -> Result<(), String> {
        let layout = self.layout().clone();
        let daemon_json = layout.docker_daemon_json();
        let text = serde_json::to_string_pretty(&self.docker_daemon_json()?)
            .map_err(|e| format!("daemon.json: {e}"))?;
        fs::write(&daemon_json, text)
            .map_err(|e| format!("write {}: {e}", daemon_json.display()))?;
        let log = log_file(&layout.docker_log())?;
        let child = self
            .daemon_command(DOCKERD)
            .arg("--config-file")
            .arg(&daemon_json)
            .stdout(log.try_clone().map_err(|e| format!("dockerd log: {e}"))?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start dockerd: {e}"))?;
        write_pid(&layout.docker_launch_pid_file(), child.id())?;
        self.dockerd = Some(Daemon { child });
        let ready = wait_until(DAEMON_START_TIMEOUT, || {
            let alive = match &mut self.dockerd {
                Some(daemon) => matches!(daemon.child.try_wait(), Ok(None)),
                None => false,
            };
            alive && self.docker(["version"]).success()
        });
        if !ready {
            return Err(format!(
                "dockerd did not answer on {} (log: {})",
                layout.docker_socket().display(),
                tail(&layout.docker_log())
            ));
        }
        let mut load = vec![OsStr::new("load"), OsStr::new("-i")];
        load.push(archives.busybox.as_os_str());
        self.docker(load).require_success()?;
        Ok(())
    }

    fn write_env_file(&self) -> Result<(), String> {
        let layout = self.layout();
        let mut text = String::new();
        let mut export = |name: &str, value: &str| {
            text.push_str(&format!(
                "export {name}='{}'\n",
                value.replace('\'', r"'\''")
            ));
        };
        export(
            "E2E_DOCKER",
            &format!(
                "env DOCKER_CONFIG={} {DOCKER_CLIENT} -H unix://{}",
                layout.docker_client_config().display(),
                layout.docker_socket().display()
            ),
        );
        export(
            "E2E_CTR",
            &format!("ctr --address {}", layout.containerd_socket().display()),
        );
        export("E2E_DOCKER_IMAGE", image::DOCKER_IMAGE);
        export("E2E_CONTAINERD_IMAGE", image::CONTAINERD_IMAGE);
        export("E2E_RUNTIME", &self.settings.runtime.to_string_lossy());
        export("E2E_DOCKER_RUNTIME_NAME", DOCKER_RUNTIME_NAME);
        export("E2E_RUNC", &self.settings.runc.to_string_lossy());
        export("E2E_RUNC_ROOT", &layout.runc_root().to_string_lossy());
        for (name, value) in self.mcsrun_env() {
            export(name, &value.to_string_lossy());
        }
        let path = layout.env_file();
        fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))
    }

    /// Runs `/usr/bin/docker -H <private socket> ARGS`.
    pub fn docker<I, S>(&self, args: I) -> CommandOutput
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        docker_command(self.layout(), args).unwrap_or_else(|why| CommandOutput {
            command_line: DOCKER_CLIENT.to_owned(),
            code: None,
            stdout: String::new(),
            stderr: why,
            timed_out: false,
        })
    }

    /// Runs `ctr --address <private socket> --namespace NAMESPACE ARGS`.
    pub fn ctr<I, S>(&self, namespace: &str, args: I) -> CommandOutput
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        ctr_command(self.layout(), namespace, args)
    }

    /// Leaves the daemons running for later use (see [`Layout::env_file`]).
    pub fn leave_running(mut self) {
        self.finished = true;
    }

    /// Removes every container, stops both daemons and unmounts everything below the
    /// base directory. Returns what could not be done.
    pub fn tear_down(&mut self) -> Vec<String> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        let problems = self.settings.layout.tear_down(&self.settings.runc);
        for daemon in [self.dockerd.take(), self.containerd.take()]
            .into_iter()
            .flatten()
        {
            let mut child = daemon.child;
            if matches!(child.try_wait(), Ok(None)) {
                kill_and_wait(child.id() as i32, Some(&mut child));
            } else {
                let _ = child.wait();
            }
        }
        problems
    }
}

/// `settings` plus what keeps every dockerd of the harness off the host's storage
/// driver choice and network: overlay2, no iptables, forwarding, masquerading or bridge.
fn with_host_untouched(mut settings: Value) -> Value {
    let fixed = json!({
            "storage-driver": "overlay2",
            "iptables": false,
            "ip6tables": false,
            "ip-forward": false,
            "ip-masq": false,
            "bridge": "none",
    });
    if let (Some(object), Some(fixed)) = (settings.as_object_mut(), fixed.as_object()) {
        object.extend(fixed.clone());
    }
    settings
}

/// A second dockerd on the harness's containerd, started by a check from a daemon.json
/// it wrote (e.g. with `mcsctl setup docker`); removed with its containers when dropped.
/// Its dirs are below the harness's base, so a run aborted with it still up is cleared
/// by [`Layout::tear_down`] like everything else.
pub struct ExtraDockerd {
    pub dir: PathBuf,
    child: Child,
}

impl Engines {
    /// The daemon.json keys that keep a dockerd private below `dir` on this harness's
    /// containerd (own socket, data, exec root, pid file and containerd namespace); no
    /// runtime is named.
    pub fn private_dockerd_settings(&self, dir: &Path, namespace: &str) -> Value {
        with_host_untouched(json!({
            "hosts": [format!("unix://{}", dir.join("docker.sock").display())],
            "data-root": dir.join("data"),
            "exec-root": dir.join("exec"),
            "pidfile": dir.join("dockerd.pid"),
            "containerd": self.layout().containerd_socket(),
            "containerd-namespace": namespace,
            "containerd-plugins-namespace": format!("plugins.{namespace}"),
            "deprecated-key-path": dir.join("key.json"),
        }))
    }

    /// Starts dockerd from `daemon_json` with the environment every engine here gets, and
    /// waits until it answers on `<dir>/docker.sock`.
    pub fn start_extra_dockerd(
        &self,
        dir: &Path,
        daemon_json: &Path,
    ) -> Result<ExtraDockerd, String> {
        let log = log_file(&dir.join("dockerd.log"))?;
        let child = self
            .daemon_command(DOCKERD)
            .arg("--config-file")
            .arg(daemon_json)
            .stdout(log.try_clone().map_err(|e| format!("dockerd log: {e}"))?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start dockerd: {e}"))?;
        let mut extra = ExtraDockerd {
            dir: dir.to_owned(),
            child,
        };
        let ready = wait_until(DAEMON_START_TIMEOUT, || {
            matches!(extra.child.try_wait(), Ok(None)) && extra.docker(["version"]).success()
        });
        if !ready {
            return Err(format!(
                "dockerd from {} did not answer (log: {})",
                daemon_json.display(),
                tail(&dir.join("dockerd.log"))
            ));
        }
        Ok(extra)
    }
}

impl ExtraDockerd {
    /// Runs `/usr/bin/docker -H <its socket> ARGS`.
    pub fn docker<I, S>(&self, args: I) -> CommandOutput
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run_with_timeout(
            Command::new(DOCKER_CLIENT)
                .env("DOCKER_CONFIG", self.dir.join("client"))
                .env_remove("DOCKER_HOST")
                .env_remove("DOCKER_CONTEXT")
                .arg("-H")
                .arg(format!("unix://{}", self.dir.join("docker.sock").display()))
                .args(args),
            CLIENT_TIMEOUT,
        )
    }
}

impl Drop for ExtraDockerd {
    fn drop(&mut self) {
        let listing = self.docker(["ps", "-aq"]);
        let ids: Vec<&str> = listing.stdout.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            self.docker(args);
        }
        kill_and_wait(self.child.id() as i32, Some(&mut self.child));
        for problem in unmount_below(&self.dir) {
            eprintln!("extra dockerd: {problem}");
        }
    }
}

impl Drop for Engines {
    fn drop(&mut self) {
        for problem in self.tear_down() {
            eprintln!("engines teardown: {problem}");
        }
    }
}

pub fn toml_string(path: &Path) -> String {
    // A TOML basic string is a JSON string for the characters paths contain.
    Value::String(path.to_string_lossy().into_owned()).to_string()
}

fn log_file(path: &Path) -> Result<fs::File, String> {
    fs::File::create(path).map_err(|e| format!("create {}: {e}", path.display()))
}

fn write_pid(path: &Path, pid: u32) -> Result<(), String> {
    fs::write(path, format!("{pid}\n")).map_err(|e| format!("write {}: {e}", path.display()))
}

/// The last lines of a daemon log, for error messages.
pub fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
