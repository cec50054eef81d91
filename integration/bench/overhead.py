#!/usr/bin/env python3
"""Overhead of mcsrun over the runtime it wraps, measured with real runc.

In one run, alternating mcsrun and runc call by call (so drift hits both alike), it
times: `state`, `create` alone, create+start+delete of a busybox bundle, `exec`, and
`run` of a container that exits at once; then mcsrun's peak RSS (with /bin/true as the
runtime, so the runtime's own memory does not count). Prints medians, the added wall
time and the ratio. Modes: passthrough (`--mcs-selinux off`) and labelling
(`--mcs-selinux dry-run`: decide, allocate, relabel plan, rewrite config.json).

usage: sudo integration/bench/overhead.py [--runs N] [--mcsrun PATH]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

RUNC = shutil.which("runc") or "/usr/sbin/runc"


def make_bundle(path, args):
    rootfs = os.path.join(path, "rootfs", "bin")
    os.makedirs(rootfs, exist_ok=True)
    if not os.path.exists(os.path.join(rootfs, "busybox")):
        shutil.copy("/bin/busybox", os.path.join(rootfs, "busybox"))
    for name in ("sh", "sleep", "true", "echo"):
        link = os.path.join(rootfs, name)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    if not os.path.exists(os.path.join(path, "config.json")):
        subprocess.run([RUNC, "spec", "--bundle", path], check=True)
    with open(os.path.join(path, "config.json")) as f:
        spec = json.load(f)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = args
    spec.pop("annotations", None)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(spec, f, indent=2)


def timed(argv, env=None):
    t0 = time.perf_counter_ns()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    return (time.perf_counter_ns() - t0) / 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--mcsrun", default=os.path.join(here, "..", "..", "target", "release", "mcsrun"))
    opts = ap.parse_args()
    mcsrun = os.path.abspath(opts.mcsrun)
    work = tempfile.mkdtemp(prefix="mcsrun-bench.")
    root = os.path.join(work, "runc")
    state = os.path.join(work, "state")
    env = dict(os.environ, MCSRUN_CONFIG=os.path.join(work, "config.toml"), MCSRUN_STATE_DIR=state)
    open(env["MCSRUN_CONFIG"], "w").close()
    sleeper = os.path.join(work, "sleeper")
    quick = os.path.join(work, "quick")
    make_bundle(sleeper, ["sleep", "1000"])
    make_bundle(quick, ["true"])
    results = {}

    def runtime(mode):
        return [RUNC] if mode is None else [mcsrun, "--mcs-selinux", mode]

    try:
        for mode_name, mode in (("passthrough", "off"), ("labelling", "dry-run")):
            base = f"base-{mode_name}"
            subprocess.run([RUNC, "--root", root, "run", "-d", "--bundle", sleeper, base],
                           check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            for i in range(opts.runs):
                for who in ("runc", "mcsrun"):
                    rt = runtime(None if who == "runc" else mode)
                    cid = f"c-{mode_name}-{who}-{i}"
                    t_create = timed(rt + ["--root", root, "create", "--bundle", sleeper, cid], env)
                    t_start = timed(rt + ["--root", root, "start", cid], env)
                    t_delete = timed(rt + ["--root", root, "delete", "--force", cid], env)
                    t_state = timed(rt + ["--root", root, "state", base], env)
                    t_exec = timed(rt + ["--root", root, "exec", base, "true"], env)
                    t_run = timed(rt + ["--root", root, "run", "--bundle", quick, cid + "-run"], env)
                    samples = {
                        "create": t_create,
                        "create+start+delete": t_create + t_start + t_delete,
                        "state": t_state,
                        "exec": t_exec,
                        "run (exits at once)": t_run,
                    }
                    for k, v in samples.items():
                        results.setdefault((mode_name, k), {"runc": [], "mcsrun": []})[who].append(v)
                make_bundle(sleeper, ["sleep", "1000"])  # drop dry-run annotations between rounds
            subprocess.run([RUNC, "--root", root, "delete", "--force", base], check=False)

        print(f"mcsrun overhead vs runc ({os.path.basename(RUNC)}), median of {opts.runs} alternating runs each")
        print(f"{'mode':<12} {'command':<22} {'runc ms':>9} {'mcsrun ms':>10} {'added ms':>9} {'ratio':>6}")
        for (mode_name, k), v in results.items():
            a = statistics.median(v["runc"])
            b = statistics.median(v["mcsrun"])
            print(f"{mode_name:<12} {k:<22} {a:9.2f} {b:10.2f} {b - a:9.2f} {b / a:6.3f}")

        # Peak RSS of mcsrun itself, measured by GNU time (a small C parent, so the
        # pre-exec image counted is its own, ~1 MiB, not Python's); the runtime is
        # /bin/true, so the runtime's memory does not count either.
        for mode in ("off", "dry-run"):
            make_bundle(quick, ["true"])
            out = subprocess.run(
                ["/usr/bin/time", "-f", "%M", mcsrun, "--mcs-runtime", "/bin/true",
                 "--mcs-selinux", mode, "--root", root, "create", "--bundle", quick, f"rss-{mode}"],
                check=True, env=env, capture_output=True, text=True)
            kib = int(out.stderr.strip().splitlines()[-1])
            print(f"peak RSS of mcsrun create, --mcs-selinux {mode}: {kib / 1024:.2f} MiB")
    finally:
        subprocess.run(["sh", "-c", f"for c in $({RUNC} --root {root} list -q 2>/dev/null); do "
                        f"{RUNC} --root {root} delete -f $c; done"], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
