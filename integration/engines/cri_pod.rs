//! `cri-pod`: runs one-container pods through a CRI socket the way a kubelet does, for
//! the enforcing-guest suite (which has no crictl):
//!
//! ```text
//! cri-pod SOCKET run NAME IMAGE [KEY=VALUE...] [-- COMMAND...]   prints "SANDBOX CONTAINER"
//! cri-pod SOCKET exec CONTAINER COMMAND...                        its stdout; its exit code
//! cri-pod SOCKET rm SANDBOX CONTAINER
//! ```
//!
//! Pods use the host network (no CNI) and their own PID and IPC namespaces. An empty
//! COMMAND keeps the image's entrypoint and command.

// The engines suite uses more of the client than this tool does.
#[allow(dead_code)]
#[path = "cri.rs"]
mod cri;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cri-pod: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let usage = "usage: cri-pod SOCKET run NAME IMAGE [KEY=VALUE...] [-- COMMAND...] | exec CONTAINER COMMAND... | rm SANDBOX CONTAINER";
    let (socket, rest) = args.split_first().ok_or(usage)?;
    let mut client = cri::CriClient::connect(Path::new(socket), Duration::from_secs(300))?;
    match rest {
        [verb, name, image, tail @ ..] if verb == "run" => {
            let split = tail.iter().position(|a| a == "--").unwrap_or(tail.len());
            let (env, command) = tail.split_at(split);
            let command: Vec<&str> = command.iter().skip(1).map(String::as_str).collect();
            let uid = format!("uid-{name}-{}", std::process::id());
            let pod = cri::host_network_pod(name, &uid);
            let sandbox = client.run_pod_sandbox(&pod, "")?;
            let mut config = cri::container(name, image, &command);
            for pair in env {
                let (key, value) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("{pair}: expected KEY=VALUE"))?;
                config.envs.push(cri::v1::KeyValue {
                    key: key.to_string(),
                    value: value.to_string(),
                });
            }
            let container = client.create_container(&sandbox, &config, &pod)?;
            client.start_container(&container)?;
            println!("{sandbox} {container}");
            Ok(ExitCode::SUCCESS)
        }
        [verb, container, command @ ..] if verb == "exec" && !command.is_empty() => {
            let command: Vec<&str> = command.iter().map(String::as_str).collect();
            let answer = client.exec_sync(container, &command, 120)?;
            std::io::stdout()
                .write_all(&answer.stdout)
                .and_then(|()| std::io::stderr().write_all(&answer.stderr))
                .map_err(|e| format!("write: {e}"))?;
            Ok(ExitCode::from(answer.exit_code.clamp(0, 255) as u8))
        }
        [verb, sandbox, container] if verb == "rm" => {
            client.stop_container(container, 10)?;
            client.remove_container(container)?;
            client.stop_pod_sandbox(sandbox)?;
            client.remove_pod_sandbox(sandbox)?;
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(usage.into()),
    }
}
