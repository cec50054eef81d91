//! Unit tests of the engines suite's own parts (gRPC framing and CRI messages, log and
//! label parsing, command deadlines, mountinfo, the image builder); no engine is started.

#[allow(dead_code)]
#[path = "engines/command.rs"]
mod command;
#[allow(dead_code)]
#[path = "engines/cri.rs"]
mod cri;
#[allow(dead_code)]
#[path = "harness/engines.rs"]
mod engines;
#[allow(dead_code)]
#[path = "engines/examples.rs"]
mod examples;
#[allow(dead_code)]
#[path = "engines/image.rs"]
mod image;
#[allow(dead_code)]
#[path = "engines/observe.rs"]
mod observe;

mod command_tests {
    use crate::command::*;
    use std::process::Command;
    use std::time::{Duration, Instant};

    #[test]
    fn output_and_exit_code_are_captured() {
        let output = run_with_timeout(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(30),
        );
        assert_eq!(
            (output.stdout.as_str(), output.stderr.as_str()),
            ("out\n", "err\n")
        );
        assert_eq!(output.code, Some(3));
        assert!(!output.success());
        assert!(output.describe().contains("exited 3"));
    }

    #[test]
    fn a_command_past_its_deadline_is_killed_with_its_children() {
        let started = Instant::now();
        let output = run_with_timeout(
            Command::new("sh").args(["-c", "sleep 30 & sleep 30"]),
            Duration::from_millis(200),
        );
        assert!(output.timed_out);
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_missing_program_is_a_failed_output() {
        let output = run_with_timeout(
            &mut Command::new("/nonexistent/tool"),
            Duration::from_secs(5),
        );
        assert!(!output.success());
        assert!(output.stderr.contains("cannot start"));
    }
}

mod cri_tests {
    use crate::cri::v1::*;
    use crate::cri::*;
    use bytes::Bytes;
    use prost::Message;

    #[test]
    fn frame_is_flag_length_payload() {
        let request = ContainerIdRequest {
            container_id: "ab".to_owned(),
        };
        let frame = grpc_frame(&request);
        assert_eq!(&frame[..], &[0, 0, 0, 0, 4, 0x0a, 2, b'a', b'b']);
        assert_eq!(&grpc_unframe(frame).unwrap()[..], &[0x0a, 2, b'a', b'b']);
    }

    #[test]
    fn unframe_refuses_short_compressed_and_truncated_bodies() {
        assert!(grpc_unframe(Bytes::from_static(&[0, 0, 0])).is_err());
        assert!(grpc_unframe(Bytes::from_static(&[1, 0, 0, 0, 1, 7])).is_err());
        assert!(grpc_unframe(Bytes::from_static(&[0, 0, 0, 0, 9, 7])).is_err());
    }

    #[test]
    fn namespace_modes_use_the_cri_tags_and_values() {
        let options = NamespaceOption {
            network: NamespaceMode::Node as i32,
            pid: NamespaceMode::Container as i32,
            ipc: NamespaceMode::Pod as i32,
        };
        // network (1) = NODE (2), pid (2) = CONTAINER (1); ipc = POD is the default, omitted.
        assert_eq!(options.encode_to_vec(), vec![0x08, 2, 0x10, 1]);
    }

    #[test]
    fn exec_sync_answer_decodes() {
        let wire = [0x0a, 3, b'o', b'k', b'\n', 0x12, 1, b'!', 0x18, 7];
        let answer = ExecSyncResponse::decode(&wire[..]).unwrap();
        assert_eq!(answer.stdout, b"ok\n");
        assert_eq!(answer.stderr, b"!");
        assert_eq!(answer.exit_code, 7);
    }

    #[test]
    fn host_network_pod_has_no_hostname_and_node_network() {
        let pod = host_network_pod("p", "u");
        assert_eq!(pod.hostname, "");
        let options = pod
            .linux
            .unwrap()
            .security_context
            .unwrap()
            .namespace_options
            .unwrap();
        assert_eq!(options.network, NamespaceMode::Node as i32);
    }

    #[test]
    fn grpc_messages_are_percent_decoded() {
        assert_eq!(percent_decode("no%20such%3A%20image"), "no such: image");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}

mod engines_tests {
    use crate::engines::*;
    use std::ffi::OsStr;
    use std::path::Path;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(
            unescape_mountinfo(r"/tmp/a\040b\011c\134d"),
            OsStr::new("/tmp/a b\tc\\d")
        );
        assert_eq!(unescape_mountinfo(r"/plain\09"), OsStr::new(r"/plain\09"));
    }

    #[test]
    fn nothing_is_mounted_below_a_fresh_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(mounts_below(dir.path()).is_empty());
    }

    #[test]
    fn bundles_follow_the_runc_shim_layout() {
        let layout = Layout::new("/e2e");
        assert_eq!(
            layout.bundle("moby", "abc"),
            Path::new("/e2e/containerd/state/io.containerd.runtime.v2.task/moby/abc")
        );
    }

    #[test]
    fn paths_become_toml_strings() {
        assert_eq!(toml_string(Path::new("/a \"b\"")), r#""/a \"b\"""#);
    }
}

mod image_tests {
    use crate::command::run_with_timeout;
    use crate::image::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;
    use std::process::Command;
    use std::time::Duration;

    #[test]
    fn busybox_rootfs_has_applets_and_root_user() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        make_busybox_rootfs(Path::new("/bin/busybox"), &rootfs).unwrap();
        assert_eq!(
            fs::read_link(rootfs.join("bin/sh")).unwrap(),
            Path::new("busybox")
        );
        assert!(fs::read_to_string(rootfs.join("etc/passwd"))
            .unwrap()
            .starts_with("root:x:0:0:"));
        let tmp_mode = fs::metadata(rootfs.join("tmp"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(tmp_mode & 0o7777, 0o1777);
    }

    #[test]
    fn archives_carry_manifest_config_and_layer() {
        let dir = tempfile::tempdir().unwrap();
        let archives = build_images(dir.path(), Path::new("/bin/busybox")).unwrap();
        let listing = run_with_timeout(
            Command::new("tar").arg("-tf").arg(&archives.sandbox),
            Duration::from_secs(60),
        )
        .require_success()
        .unwrap()
        .stdout;
        let entries: Vec<&str> = listing.lines().collect();
        assert_eq!(entries.len(), 3, "{entries:?}");
        assert_eq!(entries[0], "manifest.json");
        assert!(entries[1].ends_with(".json") && entries[2].ends_with("/layer.tar"));
    }
}

mod observe_tests {
    use crate::observe::*;
    use serde_json::json;

    #[test]
    fn level_shape_wants_two_ordered_categories() {
        assert!(check_level_shape("s0:c1,c2").is_ok());
        assert!(check_level_shape("s0:c0,c1023").is_ok());
        for bad in [
            "s0",
            "s0:c2,c1",
            "s0:c3,c3",
            "s0:c1",
            "s0:c1,c2,c3",
            "s1:c1,c2",
            "s0:c1,c1024",
        ] {
            assert!(check_level_shape(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn level_of_context_keeps_ranges_whole() {
        let context = "system_u:system_r:container_t:s0:c1,c2";
        assert_eq!(level_of_context(context), Some("s0:c1,c2"));
        assert_eq!(
            level_of_context("u:r:t:s0-s0:c0.c1023"),
            Some("s0-s0:c0.c1023")
        );
        assert_eq!(level_of_context("u:r:t"), None);
    }

    #[test]
    fn hook_arguments_are_found_per_phase() {
        let config = json!({"hooks": {"prestart": [
            {"path": "/proc/9/exe", "args": ["libnetwork-setkey", "-exec-root=/x", "id", "ctl"]}
        ]}});
        assert!(has_hook_argument(&config, "prestart", "libnetwork-setkey"));
        assert!(!has_hook_argument(
            &config,
            "createRuntime",
            "libnetwork-setkey"
        ));
        assert!(!has_hook_argument(
            &json!({}),
            "prestart",
            "libnetwork-setkey"
        ));
    }

    #[test]
    fn events_are_selected_by_name_and_id() {
        let events = vec![
            json!({"event": "decide", "id": "a", "mcs_level": "s0:c1,c2"}),
            json!({"event": "release", "id": "a"}),
            json!({"event": "decide", "id": "b"}),
        ];
        let about_a = events_about(&events, "decide", "a");
        assert_eq!(about_a.len(), 1);
        assert_eq!(field(about_a[0], "mcs_level"), "s0:c1,c2");
        assert_eq!(field(about_a[0], "missing"), "");
    }

    #[test]
    fn level_records_need_id_root_and_level() {
        let full = json!({"id": "x", "root": "/run/runc", "level": "s0:c1,c2",
                          "bundle": "/b", "rule": "allocate", "shared": false});
        let record = LevelRecord::from_json(&full).unwrap();
        assert_eq!(
            (record.id.as_str(), record.level.as_str()),
            ("x", "s0:c1,c2")
        );
        assert!(LevelRecord::from_json(&json!({"id": "x", "root": "/r"})).is_err());
    }
}

mod examples_tests {
    use crate::examples::*;

    #[test]
    fn daemon_json_makes_mcsrun_the_default_runtime() {
        let (config, name) = daemon_json().unwrap();
        assert_eq!(name, "mcsrun");
        assert_eq!(config["runtimes"]["mcsrun"]["path"], INSTALLED_MCSRUN);
    }

    #[test]
    fn table_lines_take_the_table_and_its_subtables_only() {
        let text = "[a.b]\n  x = 1\n  [a.b.options]\n    y = 2\n[a.bc]\n  z = 3\n[a.b.c]\n";
        assert_eq!(
            table_lines(text, "a.b"),
            vec!["[a.b]", "x = 1", "[a.b.options]", "y = 2", "[a.b.c]"]
        );
        assert!(table_lines(text, "q").is_empty());
    }

    #[test]
    fn commented_blocks_need_both_markers() {
        let text = "# intro\n# m-begin\n# k = 1\n#\n#   [t]\n# m-end\nrest: 1\n";
        assert_eq!(commented_block(text, "m").unwrap(), "k = 1\n\n  [t]\n");
        assert_eq!(commented_block("# m-begin\n# k = 1\n", "m"), None);
        assert_eq!(commented_block(text, "other"), None);
    }

    #[test]
    fn runtime_class_names_its_handler() {
        let text = std::fs::read_to_string(examples_dir().join("runtimeclass.yaml")).unwrap();
        assert_eq!(yaml_top_level_value(&text, "handler"), Some("mcsrun"));
        assert!(commented_block(&text, "containerd-handler")
            .unwrap()
            .contains("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.mcsrun]"));
    }
}
