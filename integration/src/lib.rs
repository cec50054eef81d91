//! Test harness shared by the end-to-end suites: busybox bundles, the built binaries, engines.
