//! A minimal Kubernetes CRI v1 client: the handful of `runtime.v1.RuntimeService` calls a
//! kubelet makes to run a pod (sandbox, container, exec, stop, remove), spoken as gRPC over
//! HTTP/2 on containerd's unix socket.
//!
//! The messages carry only the fields these tests set or read; their tags are those of the
//! CRI v1 `api.proto`, so containerd decodes them as a kubelet's. (Generated bindings need
//! `protoc` at build time, which a plain Rust toolchain does not have.)

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;
use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

/// The CRI v1 messages used here (subsets of the upstream definitions, same field tags).
pub mod v1 {
    use std::collections::HashMap;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct VersionRequest {
        #[prost(string, tag = "1")]
        pub version: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct VersionResponse {
        #[prost(string, tag = "1")]
        pub version: String,
        #[prost(string, tag = "2")]
        pub runtime_name: String,
        #[prost(string, tag = "3")]
        pub runtime_version: String,
        #[prost(string, tag = "4")]
        pub runtime_api_version: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PodSandboxMetadata {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub uid: String,
        #[prost(string, tag = "3")]
        pub namespace: String,
        #[prost(uint32, tag = "4")]
        pub attempt: u32,
    }

    /// `NamespaceMode`: POD = 0, CONTAINER = 1, NODE = 2, TARGET = 3.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum NamespaceMode {
        Pod = 0,
        Container = 1,
        Node = 2,
        Target = 3,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NamespaceOption {
        #[prost(enumeration = "NamespaceMode", tag = "1")]
        pub network: i32,
        #[prost(enumeration = "NamespaceMode", tag = "2")]
        pub pid: i32,
        #[prost(enumeration = "NamespaceMode", tag = "3")]
        pub ipc: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LinuxSandboxSecurityContext {
        #[prost(message, optional, tag = "1")]
        pub namespace_options: Option<NamespaceOption>,
        #[prost(bool, tag = "6")]
        pub privileged: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LinuxPodSandboxConfig {
        #[prost(string, tag = "1")]
        pub cgroup_parent: String,
        #[prost(message, optional, tag = "2")]
        pub security_context: Option<LinuxSandboxSecurityContext>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PodSandboxConfig {
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<PodSandboxMetadata>,
        #[prost(string, tag = "2")]
        pub hostname: String,
        #[prost(string, tag = "3")]
        pub log_directory: String,
        #[prost(map = "string, string", tag = "6")]
        pub labels: HashMap<String, String>,
        #[prost(map = "string, string", tag = "7")]
        pub annotations: HashMap<String, String>,
        #[prost(message, optional, tag = "8")]
        pub linux: Option<LinuxPodSandboxConfig>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RunPodSandboxRequest {
        #[prost(message, optional, tag = "1")]
        pub config: Option<PodSandboxConfig>,
        #[prost(string, tag = "2")]
        pub runtime_handler: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RunPodSandboxResponse {
        #[prost(string, tag = "1")]
        pub pod_sandbox_id: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ContainerMetadata {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(uint32, tag = "2")]
        pub attempt: u32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ImageSpec {
        #[prost(string, tag = "1")]
        pub image: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValue {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ContainerConfig {
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<ContainerMetadata>,
        #[prost(message, optional, tag = "2")]
        pub image: Option<ImageSpec>,
        #[prost(string, repeated, tag = "3")]
        pub command: Vec<String>,
        #[prost(string, repeated, tag = "4")]
        pub args: Vec<String>,
        #[prost(message, repeated, tag = "6")]
        pub envs: Vec<KeyValue>,
        #[prost(map = "string, string", tag = "9")]
        pub labels: HashMap<String, String>,
        #[prost(map = "string, string", tag = "10")]
        pub annotations: HashMap<String, String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CreateContainerRequest {
        #[prost(string, tag = "1")]
        pub pod_sandbox_id: String,
        #[prost(message, optional, tag = "2")]
        pub config: Option<ContainerConfig>,
        #[prost(message, optional, tag = "3")]
        pub sandbox_config: Option<PodSandboxConfig>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CreateContainerResponse {
        #[prost(string, tag = "1")]
        pub container_id: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ContainerIdRequest {
        #[prost(string, tag = "1")]
        pub container_id: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StopContainerRequest {
        #[prost(string, tag = "1")]
        pub container_id: String,
        #[prost(int64, tag = "2")]
        pub timeout: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PodSandboxIdRequest {
        #[prost(string, tag = "1")]
        pub pod_sandbox_id: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExecSyncRequest {
        #[prost(string, tag = "1")]
        pub container_id: String,
        #[prost(string, repeated, tag = "2")]
        pub cmd: Vec<String>,
        #[prost(int64, tag = "3")]
        pub timeout: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExecSyncResponse {
        #[prost(bytes = "vec", tag = "1")]
        pub stdout: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub stderr: Vec<u8>,
        #[prost(int32, tag = "3")]
        pub exit_code: i32,
    }

    /// Responses whose content these tests ignore (`StartContainerResponse`, ...).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EmptyResponse {}
}

use v1::*;

const SERVICE: &str = "runtime.v1.RuntimeService";

/// A connection to a CRI runtime service; every call blocks until answered or timed out.
pub struct CriClient {
    runtime: tokio::runtime::Runtime,
    sender: h2::client::SendRequest<Bytes>,
    call_timeout: Duration,
}

/// Wraps a protobuf message as one gRPC message: no compression, 4-byte big-endian length.
pub fn grpc_frame(message: &impl Message) -> Bytes {
    let payload = message.encode_to_vec();
    let mut frame = BytesMut::with_capacity(5 + payload.len());
    frame.put_u8(0);
    frame.put_u32(payload.len() as u32);
    frame.put_slice(&payload);
    frame.freeze()
}

/// The payload of the first gRPC message in `body`.
pub fn grpc_unframe(mut body: Bytes) -> Result<Bytes, String> {
    if body.len() < 5 {
        return Err(format!(
            "gRPC body of {} bytes has no message header",
            body.len()
        ));
    }
    let compressed = body.get_u8();
    let length = body.get_u32() as usize;
    if compressed != 0 {
        return Err("gRPC message is compressed; no compression was offered".to_owned());
    }
    if body.len() < length {
        return Err(format!(
            "gRPC message says {length} bytes, body has {}",
            body.len()
        ));
    }
    Ok(body.split_to(length))
}

/// Decodes a `grpc-message` value (percent-encoded UTF-8).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl CriClient {
    /// Connects to the CRI service listening on the unix socket `socket`.
    pub fn connect(socket: &Path, call_timeout: Duration) -> Result<CriClient, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let socket_name = socket.display().to_string();
        let sender = runtime.block_on(async {
            let stream = tokio::net::UnixStream::connect(socket)
                .await
                .map_err(|e| format!("connect {socket_name}: {e}"))?;
            let (sender, connection) = h2::client::handshake(stream)
                .await
                .map_err(|e| format!("HTTP/2 handshake on {socket_name}: {e}"))?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok::<_, String>(sender)
        })?;
        Ok(CriClient {
            runtime,
            sender,
            call_timeout,
        })
    }

    fn block_on_with_timeout<T>(
        &self,
        method: &str,
        call: impl Future<Output = Result<T, String>>,
    ) -> Result<T, String> {
        let timeout = self.call_timeout;
        self.runtime.block_on(async {
            match tokio::time::timeout(timeout, call).await {
                Ok(result) => result,
                Err(_) => Err(format!("{method}: no answer within {timeout:?}")),
            }
        })
    }

    /// One unary call of `runtime.v1.RuntimeService/<method>`.
    pub fn call<Response: Message + Default>(
        &mut self,
        method: &str,
        request: &impl Message,
    ) -> Result<Response, String> {
        let path = format!("http://localhost/{SERVICE}/{method}");
        let frame = grpc_frame(request);
        let sender = self.sender.clone();
        let body = self.block_on_with_timeout(method, async move {
            let http_request = http::Request::builder()
                .method("POST")
                .uri(path)
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(())
                .map_err(|e| format!("{method}: request: {e}"))?;
            let mut sender = sender.ready().await.map_err(|e| format!("{method}: {e}"))?;
            let (response, mut stream) = sender
                .send_request(http_request, false)
                .map_err(|e| format!("{method}: send: {e}"))?;
            stream
                .send_data(frame, true)
                .map_err(|e| format!("{method}: send body: {e}"))?;
            let response = response
                .await
                .map_err(|e| format!("{method}: response: {e}"))?;
            let (head, mut body) = response.into_parts();
            if head.status != http::StatusCode::OK {
                return Err(format!("{method}: HTTP status {}", head.status));
            }
            let mut data = BytesMut::new();
            while let Some(chunk) = body.data().await {
                let chunk = chunk.map_err(|e| format!("{method}: body: {e}"))?;
                let _ = body.flow_control().release_capacity(chunk.len());
                data.extend_from_slice(&chunk);
            }
            let trailers = body
                .trailers()
                .await
                .map_err(|e| format!("{method}: trailers: {e}"))?;
            // A call that fails at once answers "trailers-only": the status is in the head.
            let status_source = trailers.as_ref().unwrap_or(&head.headers);
            let header = |name: &str| {
                status_source
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned)
            };
            match header("grpc-status").as_deref() {
                Some("0") => Ok(data.freeze()),
                Some(code) => Err(format!(
                    "{method}: gRPC status {code}: {}",
                    percent_decode(&header("grpc-message").unwrap_or_default())
                )),
                None => Err(format!("{method}: answer without grpc-status")),
            }
        })?;
        let payload = grpc_unframe(body).map_err(|e| format!("{method}: {e}"))?;
        Response::decode(payload).map_err(|e| format!("{method}: decode answer: {e}"))
    }

    pub fn version(&mut self) -> Result<VersionResponse, String> {
        self.call(
            "Version",
            &VersionRequest {
                version: "v1".to_owned(),
            },
        )
    }

    /// Starts a pod sandbox with the runtime handler `runtime_handler` ("" for the
    /// default, as a pod without a RuntimeClass); returns its id.
    pub fn run_pod_sandbox(
        &mut self,
        config: &PodSandboxConfig,
        runtime_handler: &str,
    ) -> Result<String, String> {
        let request = RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: runtime_handler.to_owned(),
        };
        let response: RunPodSandboxResponse = self.call("RunPodSandbox", &request)?;
        Ok(response.pod_sandbox_id)
    }

    /// Creates a container in a sandbox; returns its id.
    pub fn create_container(
        &mut self,
        sandbox_id: &str,
        config: &ContainerConfig,
        sandbox_config: &PodSandboxConfig,
    ) -> Result<String, String> {
        let request = CreateContainerRequest {
            pod_sandbox_id: sandbox_id.to_owned(),
            config: Some(config.clone()),
            sandbox_config: Some(sandbox_config.clone()),
        };
        let response: CreateContainerResponse = self.call("CreateContainer", &request)?;
        Ok(response.container_id)
    }

    pub fn start_container(&mut self, container_id: &str) -> Result<(), String> {
        let request = ContainerIdRequest {
            container_id: container_id.to_owned(),
        };
        self.call::<EmptyResponse>("StartContainer", &request)
            .map(drop)
    }

    pub fn stop_container(
        &mut self,
        container_id: &str,
        timeout_seconds: i64,
    ) -> Result<(), String> {
        let request = StopContainerRequest {
            container_id: container_id.to_owned(),
            timeout: timeout_seconds,
        };
        self.call::<EmptyResponse>("StopContainer", &request)
            .map(drop)
    }

    pub fn remove_container(&mut self, container_id: &str) -> Result<(), String> {
        let request = ContainerIdRequest {
            container_id: container_id.to_owned(),
        };
        self.call::<EmptyResponse>("RemoveContainer", &request)
            .map(drop)
    }

    pub fn stop_pod_sandbox(&mut self, sandbox_id: &str) -> Result<(), String> {
        let request = PodSandboxIdRequest {
            pod_sandbox_id: sandbox_id.to_owned(),
        };
        self.call::<EmptyResponse>("StopPodSandbox", &request)
            .map(drop)
    }

    pub fn remove_pod_sandbox(&mut self, sandbox_id: &str) -> Result<(), String> {
        let request = PodSandboxIdRequest {
            pod_sandbox_id: sandbox_id.to_owned(),
        };
        self.call::<EmptyResponse>("RemovePodSandbox", &request)
            .map(drop)
    }

    /// Runs `cmd` in a container and waits for it (at most `timeout_seconds`).
    pub fn exec_sync(
        &mut self,
        container_id: &str,
        cmd: &[&str],
        timeout_seconds: i64,
    ) -> Result<ExecSyncResponse, String> {
        let request = ExecSyncRequest {
            container_id: container_id.to_owned(),
            cmd: cmd.iter().map(|arg| (*arg).to_owned()).collect(),
            timeout: timeout_seconds,
        };
        self.call("ExecSync", &request)
    }
}

/// A sandbox config for a pod on the host network (no CNI needed) with its own IPC and
/// PID namespaces.
pub fn host_network_pod(name: &str, uid: &str) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.to_owned(),
            uid: uid.to_owned(),
            namespace: "default".to_owned(),
            attempt: 0,
        }),
        // On the host network the pod has the host's UTS namespace: no hostname of its own.
        hostname: String::new(),
        log_directory: String::new(),
        labels: HashMap::new(),
        annotations: HashMap::new(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: String::new(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOption {
                    network: NamespaceMode::Node as i32,
                    pid: NamespaceMode::Container as i32,
                    ipc: NamespaceMode::Pod as i32,
                }),
                privileged: false,
            }),
        }),
    }
}

/// A container config running `command` from `image`.
pub fn container(name: &str, image: &str, command: &[&str]) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.to_owned(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: image.to_owned(),
        }),
        command: command.iter().map(|arg| (*arg).to_owned()).collect(),
        args: Vec::new(),
        envs: Vec::new(),
        labels: HashMap::new(),
        annotations: HashMap::new(),
    }
}
