//! The real applications of the enforcing-guest suite (nginx and PostgreSQL 15, images
//! built from Debian's packages by `integration/images/build.sh`, cached by content) run
//! through each engine and mcsrun here too, in the mode the suite gives mcsrun (dry-run
//! on this host): each serves — an HTTP GET of the page made inside the nginx container
//! (the engines here have no bridge network), and an SQL query from this host's `psql`
//! through the server's socket directory, bound from the host — and each gets its own
//! level. The query is not an exec into the postgres container: joining the namespaces of
//! a process of another user takes CAP_SYS_PTRACE, which a test host may not grant.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::checks::{
    ensure, label_outcome, CheckResult, CtrCleanup, DockerCleanup, Suite, CTR_NAMESPACE,
    DOCKER_NAMESPACE,
};
use crate::command::run_with_timeout;

/// How long a server may take to answer after its container started.
const SERVE_WAIT: Duration = Duration::from_secs(180);
const PASSWORD: &str = "mcsrun-e2e";
/// A GET of / on port 80 from inside a container, with bash's /dev/tcp (the image has no
/// HTTP client).
const HTTP_GET: &str =
    "exec 3<>/dev/tcp/127.0.0.1/80 && printf 'GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && cat <&3";

/// The application images: archives and names, from the images' `images.env`.
struct Images {
    nginx_archive: PathBuf,
    nginx_tag: String,
    nginx_ref: String,
    page: String,
    postgres_archive: PathBuf,
    postgres_tag: String,
    postgres_ref: String,
}

impl Images {
    /// Builds the images unless the cache has them (minutes the first time).
    fn get() -> Result<Images, String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/images/build.sh");
        let out = run_with_timeout(&mut Command::new(&script), Duration::from_secs(1800));
        if !out.success() {
            return Err(format!(
                "building the application images: {}",
                out.describe()
            ));
        }
        let dir = out
            .stdout
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let env = Path::new(&dir).join("images.env");
        let vars = [
            "IMG_NGINX_ARCHIVE",
            "IMG_NGINX_TAG",
            "IMG_NGINX_REF",
            "IMG_NGINX_INDEX_TEXT",
            "IMG_POSTGRES_ARCHIVE",
            "IMG_POSTGRES_TAG",
            "IMG_POSTGRES_REF",
        ];
        let print: Vec<String> = vars.iter().map(|v| format!("\"${v}\"")).collect();
        let out = run_with_timeout(
            Command::new("bash")
                .arg("-c")
                .arg(format!(". \"$1\" && printf '%s\\n' {}", print.join(" ")))
                .arg("_")
                .arg(&env),
            Duration::from_secs(30),
        );
        let values: Vec<String> = out.stdout.lines().map(str::to_owned).collect();
        let [nginx_archive, nginx_tag, nginx_ref, page, postgres_archive, postgres_tag, postgres_ref] =
            values.as_slice()
        else {
            return Err(format!(
                "{}: expected {vars:?}: {}",
                env.display(),
                out.describe()
            ));
        };
        Ok(Images {
            nginx_archive: nginx_archive.into(),
            nginx_tag: nginx_tag.clone(),
            nginx_ref: nginx_ref.clone(),
            page: page.clone(),
            postgres_archive: postgres_archive.into(),
            postgres_tag: postgres_tag.clone(),
            postgres_ref: postgres_ref.clone(),
        })
    }
}

/// Retries `probe` until it returns `Ok`, or returns its last error after `limit`.
fn serving(
    limit: Duration,
    mut probe: impl FnMut() -> Result<String, String>,
) -> Result<String, String> {
    let started = Instant::now();
    loop {
        match probe() {
            Ok(answer) => return Ok(answer),
            Err(e) if started.elapsed() > limit => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

fn page_check(answer: String, page: &str) -> Result<String, String> {
    if answer.starts_with("HTTP/1.1 200") && answer.contains(page) {
        Ok(answer.lines().next().unwrap_or_default().to_owned())
    } else {
        Err(format!("the GET answered {answer:?}"))
    }
}

/// A fresh directory for the server's socket, writable by the container's postgres user.
fn socket_dir(engine: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("mcsrun-e2e-pgsock-{engine}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// `select version()` from this host's psql through the socket in `sockets` (local
/// connections are trusted by the image).
fn host_psql(sockets: &Path) -> String {
    let mut psql = Command::new("psql");
    psql.args(["-h"]).arg(sockets).args([
        "-U",
        "postgres",
        "-X",
        "-A",
        "-t",
        "-c",
        "select version()",
    ]);
    let out = run_with_timeout(&mut psql, Duration::from_secs(30));
    if out.success() {
        out.stdout
    } else {
        out.describe()
    }
}

fn sql_check(answer: String) -> Result<String, String> {
    let first = answer.lines().next().unwrap_or_default().to_owned();
    if first.starts_with("PostgreSQL 15") {
        Ok(first)
    } else {
        Err(format!("the query answered {answer:?}"))
    }
}

pub fn docker_runs_nginx_and_postgres(suite: &Suite) -> CheckResult {
    let images = Images::get()?;
    for archive in [&images.nginx_archive, &images.postgres_archive] {
        let archive = archive.display().to_string();
        suite
            .engines
            .docker(["load", "-i", archive.as_str()])
            .require_success()?;
    }
    let (web, db) = ("e2e-nginx", "e2e-postgres");
    let _cleanup = DockerCleanup::new(suite, &[web, db]);
    let env = format!("POSTGRES_PASSWORD={PASSWORD}");
    let sockets = socket_dir("docker")?;
    suite
        .engines
        .docker([
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            web,
            &images.nginx_tag,
        ])
        .require_success()?;
    suite
        .engines
        .docker([
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            db,
            "-e",
            &env,
            "-v",
            &format!("{}:/run/postgresql", sockets.display()),
            &images.postgres_tag,
        ])
        .require_success()?;
    let http = serving(SERVE_WAIT, || {
        page_check(
            suite
                .engines
                .docker(["exec", web, "bash", "-c", HTTP_GET])
                .stdout,
            &images.page,
        )
    })
    .map_err(|e| format!("nginx through docker: {e}"))?;
    let sql = serving(SERVE_WAIT, || sql_check(host_psql(&sockets)))
        .map_err(|e| format!("postgres through docker: {e}"))?;
    if !suite.runtime_is_mcsrun {
        return Ok(label_outcome(suite, Some(format!("{http}; {sql}"))));
    }
    let web_id = suite.docker_container_id(web)?;
    let db_id = suite.docker_container_id(db)?;
    let web_level = suite.expect_labelled(DOCKER_NAMESPACE, &web_id)?.level;
    let db_level = suite.expect_labelled(DOCKER_NAMESPACE, &db_id)?.level;
    ensure(web_level != db_level, || {
        format!("nginx and postgres share level {web_level}")
    })?;
    suite.expect_exec_label(DOCKER_NAMESPACE, &web_id)?;
    Ok(label_outcome(
        suite,
        Some(format!(
            "{http}; {sql}; levels nginx {web_level}, postgres {db_level}"
        )),
    ))
}

pub fn ctr_runs_nginx_and_postgres(suite: &Suite) -> CheckResult {
    let images = Images::get()?;
    for archive in [&images.nginx_archive, &images.postgres_archive] {
        let archive = archive.display().to_string();
        suite
            .engines
            .ctr(CTR_NAMESPACE, ["images", "import", archive.as_str()])
            .require_success()?;
    }
    let (web, db) = ("e2e-ctr-nginx", "e2e-ctr-postgres");
    let _cleanup = CtrCleanup::new(suite, &[web, db]);
    let env = format!("POSTGRES_PASSWORD={PASSWORD}");
    let web_args = suite.ctr_run_args(&["-d", "--null-io", &images.nginx_ref, web]);
    suite
        .engines
        .ctr(CTR_NAMESPACE, &web_args)
        .require_success()?;
    let sockets = socket_dir("ctr")?;
    let bind = format!(
        "type=bind,src={},dst=/run/postgresql,options=rbind:rw",
        sockets.display()
    );
    let db_args = suite.ctr_run_args(&[
        "-d",
        "--null-io",
        "--env",
        &env,
        "--mount",
        &bind,
        &images.postgres_ref,
        db,
    ]);
    suite
        .engines
        .ctr(CTR_NAMESPACE, &db_args)
        .require_success()?;
    let exec = |id: &str, exec_id: &str, cmd: &[&str]| {
        let mut args = vec!["tasks", "exec", "--exec-id", exec_id, id];
        args.extend_from_slice(cmd);
        suite.engines.ctr(CTR_NAMESPACE, &args).stdout
    };
    let http = serving(SERVE_WAIT, || {
        page_check(exec(web, "get", &["bash", "-c", HTTP_GET]), &images.page)
    })
    .map_err(|e| format!("nginx through ctr: {e}"))?;
    let sql = serving(SERVE_WAIT, || sql_check(host_psql(&sockets)))
        .map_err(|e| format!("postgres through ctr: {e}"))?;
    if !suite.runtime_is_mcsrun {
        return Ok(label_outcome(suite, Some(format!("{http}; {sql}"))));
    }
    let web_level = suite.expect_labelled(CTR_NAMESPACE, web)?.level;
    let db_level = suite.expect_labelled(CTR_NAMESPACE, db)?.level;
    ensure(web_level != db_level, || {
        format!("nginx and postgres share level {web_level}")
    })?;
    Ok(label_outcome(
        suite,
        Some(format!(
            "{http}; {sql}; levels nginx {web_level}, postgres {db_level}"
        )),
    ))
}
