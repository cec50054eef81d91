#!/usr/bin/env python3
"""What mcsrun costs over the tools it stands in for, in one run: one markdown table and a
few lines of detail on stdout (progress on stderr).

Every comparison alternates the two sides call by call (the order flips every pair, so
drift and background load hit both alike). The baseline and mcsrun columns are medians,
"added" and "ratio" compare those medians, and the ratio is followed by the min–max of
the ratios of the back-to-back pairs. CPU is user+sys of the whole call (the process
and everything it waited for), from getrusage(RUSAGE_CHILDREN) deltas, and from
`perf stat -e task-clock` where perf works.

Measured:
  state (passthrough, --mcs-selinux off, real runc) vs runc: wall, CPU (rusage, perf);
    mcsrun's own part up to the exec: CPU, and instruction count under callgrind with a
    runtime that cannot be exec'd (ENOEXEC), split by object (dynamic loader, libc, mcsrun);
  create, create+start+delete, exec and run of a busybox bundle vs runc, passthrough and
    labelling (--mcs-selinux dry-run), bundle on ext4 and on tmpfs;
  relabel of plain-directory rootfs trees: `chcon -R -h CONTEXT` vs `mcsrun create` in
    force mode with /bin/true as runtime, first pass (every label differs) and already
    right; plus fs-label's relabel_tree in process (example relabel_speed);
  the allocator (example alloc_bench, store on tmpfs): allocate/release latency and gc
    passes at several counts of live levels; `mcsrun create` (dry-run) with 10,000 levels
    held (filled by `alloc_bench fill`, the allocator's own code, visible to mcsctl) vs none;
  peak RSS of mcsrun (GNU time).

usage: sudo integration/bench/bench.py [--quick] [--runs N] [--target DIR] [--only SECTIONS]
(scripts/bench.sh builds the binaries and runs this.)
"""

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

FILE_TYPE = "system_u:object_r:container_file_t"
RELABEL_LEVELS = ("s0:c1,c2", "s0:c3,c4")


class Broken(Exception):
    """A command the benchmark needs failed: the run is broken (not merely slow)."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(argv, env=None, check=True, capture=False):
    try:
        return subprocess.run(argv, env=env, check=check, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                              stderr=subprocess.PIPE if capture else None, text=True)
    except subprocess.CalledProcessError as e:
        detail = (e.stderr or "").strip()
        raise Broken(f"{' '.join(map(str, argv))} exited {e.returncode}"
                     + (f": {detail}" if detail else "")) from None
    except OSError as e:
        raise Broken(f"{argv[0]}: {e}") from None


def children_usage():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime * 1e3, ru.ru_stime * 1e3, ru.ru_minflt


def measure(argv, env=None, expect_failure=None):
    """Runs argv once: {"wall", "cpu": ms, "minflt": minor faults}; cpu is user+sys (their
    split is tick-sampled on many kernels, their sum is not). With expect_failure, the call
    must fail and print that text on stderr."""
    user0, sys0, flt0 = children_usage()
    t0 = time.perf_counter_ns()
    if expect_failure is None:
        run(argv, env=env)
    else:
        p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        if p.returncode == 0 or expect_failure not in p.stderr:
            raise Broken(f"{' '.join(argv)}: expected a failure with {expect_failure!r}, "
                         f"got exit {p.returncode}: {p.stderr.strip()}")
    wall = (time.perf_counter_ns() - t0) / 1e6
    user1, sys1, flt1 = children_usage()
    return {"wall": wall, "cpu": user1 - user0 + sys1 - sys0, "minflt": flt1 - flt0}


def perf_works():
    if not shutil.which("perf"):
        return False
    with tempfile.NamedTemporaryFile("r", suffix=".perf") as out:
        argv = ["perf", "stat", "-x,", "-e", "task-clock", "-o", out.name, "--", "true"]
        p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return p.returncode == 0 and parse_perf(out.name) is not None


def parse_perf(path):
    with open(path) as f:
        for line in f:
            fields = line.strip().split(",")
            if len(fields) > 2 and fields[2].startswith("task-clock"):
                try:
                    return float(fields[0])
                except ValueError:
                    return None
    return None


def perf_task_clock(argv, env, out, expect_failure=None):
    """{"perf": task-clock (ms) of argv and everything it ran, as counted by perf}."""
    perf = ["perf", "stat", "-x,", "-e", "task-clock", "-o", out, "--"]
    if expect_failure:
        # perf's own exit status does not always carry a failing workload's, so the
        # failure is read from the workload's message.
        p = subprocess.run(perf + argv, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if expect_failure not in p.stderr:
            raise Broken(f"{' '.join(argv)} under perf stat: expected a failure with "
                         f"{expect_failure!r}, got: {p.stderr.strip()}")
    else:
        run(perf + argv, env=env)
    value = parse_perf(out)
    if value is None:
        raise Broken(f"perf stat gave no task-clock for {' '.join(argv)}")
    return {"perf": value}


def alternate(n, base, mcs, warmup=1):
    """Calls base() and mcs() n times each, alternating and flipping the order every pair;
    each returns a dict of figures. Returns (base samples, mcsrun samples) as lists."""
    b, m = alternate_all(n, [base, mcs], warmup)
    return b, m


def alternate_all(n, calls, warmup=1):
    """alternate for any number of calls: each round calls all of them, in an order
    reversed every other round. Returns one list of samples per call."""
    for _ in range(warmup):
        for call in calls:
            call()
    samples = [[] for _ in calls]
    for i in range(n):
        order = list(range(len(calls)))
        if i % 2:
            order.reverse()
        for k in order:
            samples[k].append(calls[k]())
    return samples


def column(samples, key):
    return [s[key] for s in samples]


def median_of(samples, key):
    return statistics.median(column(samples, key))


# ---------------------------------------------------------------- formatting

def fmt_ms(v):
    a = abs(v)
    if a >= 1000:
        return f"{v / 1000:.2f} s"
    if a >= 100:
        return f"{v:.0f} ms"
    if a >= 10:
        return f"{v:.1f} ms"
    return f"{v:.2f} ms"


def fmt_us(v):
    if v >= 1000:
        return fmt_ms(v / 1000)
    return f"{v:.0f} µs" if v >= 100 else f"{v:.1f} µs"


class Table:
    def __init__(self):
        self.rows = []

    def pair(self, what, base_name, base, mcs, goal="–"):
        """A row from paired samples (lists of ms, same length)."""
        ratios = [m / b for b, m in zip(base, mcs) if b > 0]
        mb, mm = statistics.median(base), statistics.median(mcs)
        added = mm - mb
        ratio = (f"{mm / mb:.3f} ({min(ratios):.3f}–{max(ratios):.3f})"
                 if ratios and mb > 0 else "–")
        self.rows.append((what, f"{base_name} {fmt_ms(mb)}".strip(), fmt_ms(mm),
                          ("+" if added >= 0 else "−") + fmt_ms(abs(added)), ratio, goal))

    def plain(self, what, mcs, goal="–", base="–"):
        self.rows.append((what, base, mcs, "–", "–", goal))

    def print(self):
        head = ("what", "baseline", "mcsrun", "added", "ratio (median, min–max)", "goal")
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in self.rows:
            print("| " + " | ".join(r) + " |")


# ---------------------------------------------------------------- bundles and trees

def runc_spec(runc, bundle, args, annotations=None):
    """Writes bundle/config.json (runc's default spec, no terminal, these args); returns
    its text."""
    spec_path = os.path.join(bundle, "config.json")
    if os.path.exists(spec_path):
        os.unlink(spec_path)
    run([runc, "spec", "--bundle", bundle])
    with open(spec_path) as f:
        spec = json.load(f)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = args
    spec.pop("annotations", None)
    if annotations:
        spec["annotations"] = annotations
    text = json.dumps(spec, indent=2)
    with open(spec_path, "w") as f:
        f.write(text)
    return text


def busybox_bundle(runc, path, args):
    """A bundle with a static busybox rootfs; returns the config.json text (for restoring)."""
    bindir = os.path.join(path, "rootfs", "bin")
    os.makedirs(bindir, exist_ok=True)
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy(busybox, os.path.join(bindir, "busybox"))
    for name in ("sh", "sleep", "true", "echo"):
        os.symlink("busybox", os.path.join(bindir, name))
    return runc_spec(runc, path, args)


def write_config(bundle, text):
    """Puts config.json back as an engine writes it before each create."""
    path = os.path.join(bundle, "config.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def build_tree(root, inodes):
    """A plain directory tree of exactly `inodes` inodes (root included): groups of 10
    directories of 100 inodes each (the directory, 98 files, one symlink)."""
    os.makedirs(root)
    count, group, leaf, in_leaf, leaves_in_group, serial = 1, None, None, 100, 10, 0
    while count < inodes:
        if in_leaf >= 100 or leaf is None:
            if leaves_in_group >= 10:
                group = os.path.join(root, f"g{serial}")
                os.mkdir(group)
                count, leaves_in_group = count + 1, 0
                if count >= inodes:
                    break
            leaf = os.path.join(group, f"d{serial}")
            os.mkdir(leaf)
            count, in_leaf, leaves_in_group = count + 1, 1, leaves_in_group + 1
            continue
        serial += 1
        name = os.path.join(leaf, f"f{serial}")
        if in_leaf == 99:
            os.symlink("../../g0", name)
        else:
            with open(name, "wb") as f:
                f.write(b"x")
        count, in_leaf = count + 1, in_leaf + 1


def count_inodes(root):
    n = 1
    for _, dirs, files in os.walk(root):
        n += len(dirs) + len(files)
    return n


def label_of(path):
    try:
        return os.getxattr(path, "security.selinux", follow_symlinks=False).rstrip(b"\0").decode()
    except OSError:
        return None


def sample_paths(root):
    """The root, its first directory and the deepest entry of the first leaf."""
    out = [root]
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        if dirpath != root:
            out.append(dirpath)
        if files:
            out.append(os.path.join(dirpath, sorted(files)[-1]))
            break
    return out


def check_labels(root, context, who):
    for p in sample_paths(root):
        got = label_of(p)
        if got != context:
            raise Broken(f"after {who}, {p} carries {got!r}, not {context!r}")


def fs_type(path):
    """The type of the file system holding path, as /proc/self/mounts names it (ext4)."""
    best, kind = "", None
    real = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            mnt = fields[1].replace("\\040", " ")
            inside = real == mnt or real.startswith(mnt.rstrip("/") + "/")
            if inside and len(mnt) >= len(best):
                best, kind = mnt, fields[2]
    return kind or run(["stat", "-f", "-c", "%T", path], capture=True).stdout.strip()


# ---------------------------------------------------------------- callgrind

def callgrind_by_object(paths):
    """Self cost (Ir) per object over callgrind output files; returns (total, {object: Ir})."""
    per_object = {}
    total = 0
    for path in paths:
        names = {}
        obj = "?"
        skip = False
        summary = None
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if not line:
                    continue
                c = line[0]
                if c.isdigit() or c in "+-*":
                    if skip:  # inclusive cost of a call, not self cost
                        skip = False
                        continue
                    parts = line.split()
                    if len(parts) > 1:
                        per_object[obj] = per_object.get(obj, 0) + int(parts[1])
                    continue
                key, _, value = line.partition("=")
                if key in ("ob", "cob"):
                    m = re.match(r"\((\d+)\)(?: (.*))?$", value)
                    name = value
                    if m:
                        name = m.group(2) if m.group(2) is not None else names.get(m.group(1), "?")
                        if m.group(2) is not None:
                            names[m.group(1)] = m.group(2)
                    if key == "ob":
                        obj = name
                elif key == "calls":
                    skip = True
                elif line.startswith(("summary:", "totals:")):
                    summary = int(line.split()[1])
        if summary is not None:
            total += summary
    return total, per_object


def callgrind(argv, env, outdir, tag, expect_enoexec):
    """Total Ir of the process argv starts (not of children it forks, nor of what it
    execs) and its share by object (ld.so, libc, mcsrun, other)."""
    pattern = os.path.join(outdir, f"{tag}.%p.out")
    p = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={pattern}"] + argv,
                         env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    _, err = p.communicate()
    if expect_enoexec and "Exec format error" not in err:
        raise Broken(f"callgrind of {' '.join(argv)}: expected ENOEXEC of the runtime, got "
                     f"exit {p.returncode}: {err.strip()[-500:]}")
    if not expect_enoexec and p.returncode != 0:
        raise Broken(f"callgrind of {' '.join(argv)} exited {p.returncode}: {err.strip()[-500:]}")
    main_file = os.path.join(outdir, f"{tag}.{p.pid}.out")
    if not os.path.exists(main_file):
        raise Broken(f"callgrind wrote no {main_file}")
    total, per = callgrind_by_object([main_file])
    for f in os.listdir(outdir):
        if f.startswith(tag + "."):
            os.unlink(os.path.join(outdir, f))
    groups = {"ld.so": 0, "libc": 0, "mcsrun": 0, "other": 0}
    for obj, ir in per.items():
        base = os.path.basename(obj)
        if base.startswith("ld-linux") or base.startswith("ld-"):
            groups["ld.so"] += ir
        elif base.startswith("libc.so") or base.startswith("libc-"):
            groups["libc"] += ir
        elif base in ("mcsrun", "mcsrun-core"):
            groups["mcsrun"] += ir
        else:
            groups["other"] += ir
    counted = sum(groups.values()) or 1
    return total, {k: v / counted for k, v in groups.items()}


# ---------------------------------------------------------------- the benchmark

class Bench:
    def __init__(self, opts):
        self.opts = opts
        self.quick = opts.quick
        self.runs = opts.runs
        target = os.path.abspath(opts.target)
        self.mcsrun = os.path.join(target, "release", "mcsrun")
        self.mcsrun_core = os.path.join(target, "release", "mcsrun-core")
        self.mcsctl = os.path.join(target, "release", "mcsctl")
        self.alloc_bench = os.path.join(target, "release", "examples", "alloc_bench")
        self.relabel_speed = os.path.join(target, "release", "examples", "relabel_speed")
        for exe in (self.mcsrun, self.mcsrun_core, self.mcsctl, self.alloc_bench,
                    self.relabel_speed):
            if not os.access(exe, os.X_OK):
                raise Broken(f"{exe} is missing: build it first (scripts/bench.sh does)")
        self.table = Table()
        self.details = []
        self.roots = []
        self.mounted = None
        self.disk = tempfile.mkdtemp(prefix="mcsrun-bench.", dir="/var/tmp")
        shm = "/dev/shm"
        if os.path.isdir(shm) and fs_type(shm) == "tmpfs":
            self.tmpfs = tempfile.mkdtemp(prefix="mcsrun-bench.", dir=shm)
        else:
            self.tmpfs = os.path.join(self.disk, "tmpfs")
            os.mkdir(self.tmpfs)
            run(["mount", "-t", "tmpfs", "-o", "mode=0700", "tmpfs", self.tmpfs])
            self.mounted = self.tmpfs
        self.config = os.path.join(self.disk, "config.toml")
        open(self.config, "w").close()
        self.state = os.path.join(self.tmpfs, "state")
        self.root = self.runc_root("runc")
        # What an engine's call looks like: no MCSRUN_* variable (the entry binary's fast
        # path); the bench's own config and store for everything mcsrun-core does.
        self.plain_env = {k: v for k, v in os.environ.items() if not k.startswith("MCSRUN_")}
        self.env = dict(self.plain_env, MCSRUN_CONFIG=self.config, MCSRUN_STATE_DIR=self.state)
        self.perf = perf_works()
        self.valgrind = shutil.which("valgrind") is not None
        self.gnu_time = os.access("/usr/bin/time", os.X_OK)
        self.runc = self.resolved_runtime()
        self.garbage = os.path.join(self.disk, "not-a-runtime")
        with open(self.garbage, "w") as f:
            f.write("this file is not a program\n")
        os.chmod(self.garbage, 0o755)
        self.serial = 0
        self.relabelled = False

    def runc_root(self, name):
        path = os.path.join(self.tmpfs, name)
        self.roots.append(path)
        return path

    def next_id(self, prefix):
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def resolved_runtime(self):
        """The runtime mcsrun execs when none is configured: the baseline is that runc."""
        out = run([self.mcsrun, "--version"], env=self.env, capture=True).stdout
        m = re.search(r"^mcsrun \S+ \(runtime: (.+)\)$", out, re.M)
        if not m:
            raise Broken(f"mcsrun --version names no runtime: {out!r}")
        return m.group(1)

    def exec_only_wrapper(self):
        """Builds (gcc) a static program with no C library whose only act is to exec the
        runtime with its arguments: what any wrapper costs at least. None without gcc."""
        if not shutil.which("gcc"):
            return None
        src = os.path.join(self.disk, "exec-only.c")
        exe = os.path.join(self.disk, "exec-only")
        runtime = self.runc.replace("\\", "\\\\").replace('"', '\\"')
        with open(src, "w") as f:
            f.write(f"""static const char runtime[] = "{runtime}";
__attribute__((used)) void start_c(long *sp) {{
  long argc = sp[0]; char **argv = (char **)(sp + 1); char **envp = argv + argc + 1; long r;
  argv[0] = (char *)runtime;
  __asm__ volatile("syscall" : "=a"(r) : "a"(59), "D"(runtime), "S"(argv), "d"(envp)
                   : "rcx", "r11", "memory");
  __asm__ volatile("mov $231, %eax; mov $127, %edi; syscall");
}}
__asm__(".globl _start\\n_start:\\n xor %ebp, %ebp\\n mov %rsp, %rdi\\n and $-16, %rsp\\n"
        " call start_c\\n ud2\\n");
""")
        run(["gcc", "-O2", "-static", "-nostdlib", "-fno-stack-protector", "-o", exe, src])
        return exe

    def mcs(self, mode, *extra):
        return [self.mcsrun, "--mcs-selinux", mode, *extra]

    def cleanup(self):
        for root in self.roots:
            if not os.path.isdir(root):
                continue
            ids = run([self.runc, "--root", root, "list", "-q"], check=False, capture=True).stdout
            for cid in ids.split():
                run([self.runc, "--root", root, "delete", "--force", cid], check=False)
        if self.mounted:
            run(["umount", "-l", self.mounted], check=False)
        shutil.rmtree(self.tmpfs, ignore_errors=True)
        shutil.rmtree(self.disk, ignore_errors=True)

    # ------------------------------------------------------------ state

    def bench_state(self):
        log("state (passthrough)...")
        n = 4 * self.runs
        base_bundle = os.path.join(self.disk, "state-base")
        busybox_bundle(self.runc, base_bundle, ["sleep", "100000"])
        run([self.runc, "--root", self.root, "run", "-d", "--bundle", base_bundle, "base"])
        rt = [self.runc, "--root", self.root, "state", "base"]
        # As a shim calls it: no mcsrun flag, no MCSRUN_* variable, so the entry binary
        # execs the runtime itself (unless the host's config file holds a setting).
        mc = [self.mcsrun, "--root", self.root, "state", "base"]
        # The floor of any wrapper, in the same rounds: a program with no C library that
        # only execs runc.
        floor = self.exec_only_wrapper()
        calls = [lambda: measure(rt, self.plain_env), lambda: measure(mc, self.plain_env)]
        if floor:
            fl = [floor, "--root", self.root, "state", "base"]
            calls.append(lambda: measure(fl, self.plain_env))
        b, m, *f = alternate_all(n, calls, warmup=3)
        self.table.pair("`state` (passthrough), wall", "runc", column(b, "wall"), column(m, "wall"),
                        "≤ 1.03")
        self.table.pair("`state` (passthrough), CPU (rusage)", "runc", column(b, "cpu"),
                        column(m, "cpu"), "≤ 1.03")
        if f:
            what = "`state` through an exec-only wrapper without libc (the floor)"
            self.table.pair(f"{what}, wall", "runc", column(b, "wall"), column(f[0], "wall"))
            self.table.pair(f"{what}, CPU (rusage)", "runc", column(b, "cpu"),
                            column(f[0], "cpu"))
        if self.perf:
            out = os.path.join(self.tmpfs, "perf.out")
            pb, pm = alternate(n, lambda: perf_task_clock(rt, self.plain_env, out),
                               lambda: perf_task_clock(mc, self.plain_env, out))
            self.table.pair("`state` (passthrough), CPU (perf task-clock)", "runc",
                            column(pb, "perf"), column(pm, "perf"), "≤ 1.03")
        # The same call handed to mcsrun-core (a flag does it): what every call the entry
        # does not pass through pays on top, and what a passthrough cost before the entry.
        via_core = self.mcs("off", "--root", self.root, "state", "base")
        b, m = alternate(n, lambda: measure(rt, self.env), lambda: measure(via_core, self.env))
        self.table.pair("`state` handed to mcsrun-core (`--mcs-selinux off`), wall", "runc",
                        column(b, "wall"), column(m, "wall"))
        config = "/etc/mcsrun/config.toml"
        self.details.append(
            "`state` (passthrough) is called as a shim calls it (no mcsrun flag, no MCSRUN_* "
            f"variable); {config} is "
            + ("absent" if not os.path.exists(config) else
               "present: the entry binary passes the call through only if it holds no setting"))

        # mcsrun alone: the same call with a runtime that cannot be exec'd, so it ends at
        # the exec; a bare exec of static busybox as the reference of what any exec costs.
        # (mcsrun-core called directly: valgrind does not follow the entry's exec)
        own = [self.mcsrun_core, "--mcs-selinux", "off", "--mcs-runtime", self.garbage,
               "--root", self.root, "state", "base"]
        busybox = [shutil.which("busybox") or "/bin/busybox", "true"]
        rb, ro = alternate(n, lambda: measure(busybox, self.env),
                           lambda: measure(own, self.env, expect_failure="Exec format error"))
        line = (f"mcsrun-core's own part of a `state` (up to the exec, runtime ENOEXEC): "
                f"wall {fmt_ms(median_of(ro, 'wall'))}, "
                f"CPU (rusage) {fmt_ms(median_of(ro, 'cpu'))} "
                f"({median_of(ro, 'minflt'):.0f} minor faults)")
        if self.perf:
            out = os.path.join(self.tmpfs, "perf.out")
            po = [perf_task_clock(own, self.env, out, expect_failure="Exec format error")
                  for _ in range(n)]
            line += f", task-clock {fmt_ms(median_of(po, 'perf'))}"
        line += (f"; a bare `busybox true` (static): wall {fmt_ms(median_of(rb, 'wall'))}, CPU "
                 f"{fmt_ms(median_of(rb, 'cpu'))} ({median_of(rb, 'minflt'):.0f} minor faults)")
        self.details.append(line)

        if self.valgrind:
            log("callgrind...")
            outdir = os.path.join(self.tmpfs, "callgrind")
            os.makedirs(outdir, exist_ok=True)
            totals = [callgrind(own, self.env, outdir, f"state{i}", True) for i in range(2)]
            total, share = totals[0]
            again = "" if totals[1][0] == total else f" (second run {totals[1][0]:,})"
            self.details.append(
                f"instructions (callgrind, user space) of mcsrun-core's `state` up to the "
                f"exec: {total:,} Ir{again}: dynamic loader {share['ld.so']:.0%}, libc "
                f"{share['libc']:.0%}, mcsrun's own code {share['mcsrun']:.0%}, other "
                f"{share['other']:.0%}")
            # A labelling create (dry-run) in a throwaway store, runtime /bin/true: the count
            # is mcsrun's whole process (it forks the runtime and waits for it).
            bundle = os.path.join(self.tmpfs, "cg-bundle")
            text = busybox_bundle(self.runc, bundle, ["true"])
            env = dict(self.env, MCSRUN_STATE_DIR=os.path.join(self.tmpfs, "cg-state"))
            cg_root = self.runc_root("cg-root")
            results = []
            for i in range(3):
                write_config(bundle, text)
                argv = [self.mcsrun_core, "--mcs-selinux", "dry-run", "--mcs-runtime",
                        "/bin/true", "--root", cg_root, "create", "--bundle", bundle,
                        self.next_id("cg")]
                results.append(callgrind(argv, env, outdir, f"create{i}", False))
            total, share = results[1]
            again = "" if results[2][0] == total else f", next {results[2][0]:,}"
            self.details.append(
                f"instructions of mcsrun in a labelling `create` (dry-run, tmpfs bundle, runtime "
                f"/bin/true): {total:,} Ir (first call, new store: {results[0][0]:,}{again}): "
                f"dynamic loader {share['ld.so']:.0%}, libc {share['libc']:.0%}, mcsrun "
                f"{share['mcsrun']:.0%}, other {share['other']:.0%}")
        else:
            self.details.append("valgrind not installed: no instruction counts")
        run([self.runc, "--root", self.root, "delete", "--force", "base"])

    # ------------------------------------------------------------ container life

    def bench_lifecycle(self):
        configs = [("passthrough", "off", self.disk),
                   ("labelling", "dry-run", self.disk),
                   ("labelling", "dry-run", self.tmpfs)]
        for mode_name, mode, parent in configs:
            fs = fs_type(parent)
            log(f"create/start/delete/exec/run ({mode_name}, bundle on {fs})...")
            where = os.path.join(parent, f"life-{mode_name}")
            sleeper, quick, basedir = (os.path.join(where, x) for x in ("sleeper", "quick", "base"))
            sleeper_cfg = busybox_bundle(self.runc, sleeper, ["sleep", "100000"])
            quick_cfg = busybox_bundle(self.runc, quick, ["true"])
            busybox_bundle(self.runc, basedir, ["sleep", "100000"])
            root = self.runc_root(f"root-{mode_name}-{len(self.roots)}")
            # The container exec'd into, made by mcsrun when labelling (so it holds a level
            # and its bundle says which label an exec joins).
            maker = [self.runc] if mode == "off" else self.mcs(mode)
            run(maker + ["--root", root, "create", "--bundle", basedir, "base"], env=self.env)
            run(maker + ["--root", root, "start", "base"], env=self.env)

            def cycle(rt, plain, tag):
                # `rt` makes the calls mcsrun acts on (for mcsrun: the mode flag stands in
                # for the host's SELinux); `plain` the others, as an engine makes them.
                cid = self.next_id(tag)
                write_config(sleeper, sleeper_cfg)
                c = measure(rt + ["--root", root, "create", "--bundle", sleeper, cid], self.env)
                s = measure(plain + ["--root", root, "start", cid], self.plain_env)
                d = measure(rt + ["--root", root, "delete", "--force", cid], self.env)
                e = measure(rt + ["--root", root, "exec", "base", "true"], self.env)
                write_config(quick, quick_cfg)
                r = measure(rt + ["--root", root, "run", "--bundle", quick, cid + "-run"], self.env)
                return {"create": c["wall"],
                        "create+start+delete": c["wall"] + s["wall"] + d["wall"],
                        "csd-cpu": c["cpu"] + s["cpu"] + d["cpu"],
                        "exec": e["wall"], "run": r["wall"]}

            b, m = alternate(self.runs, lambda: cycle([self.runc], [self.runc], "r"),
                             lambda: cycle(self.mcs(mode), [self.mcsrun], "m"))
            tag = f"{mode_name}, bundle on {fs}"
            for key, label in (("create", "`create`"),
                               ("create+start+delete", "create+start+delete"),
                               ("csd-cpu", "create+start+delete, CPU"),
                               ("exec", "`exec` (true)"),
                               ("run", "`run` (exits at once)")):
                if parent == self.tmpfs and key in ("exec", "run"):
                    continue
                goal = "≤ 1.02" if (mode != "off" and key == "create+start+delete") else "–"
                self.table.pair(f"{label} ({tag})", "runc", column(b, key), column(m, key), goal)
            run([self.runc, "--root", root, "delete", "--force", "base"])

    # ------------------------------------------------------------ relabel

    def bench_relabel(self):
        # One tree serves both tools, so they meet the same inodes. In each round the tool
        # going first (they take turns) writes label A over B, the other B over A: two
        # first passes where every label differs; then both write B again: already right.
        sizes = [(10_100, self.runs, 1), (100_000, max(2, self.runs // 3), 0)]
        if self.quick:
            sizes = [(10_100, self.runs, 1), (20_000, 2, 0)]
        logfile = os.path.join(self.disk, "relabel.log")
        config = os.path.join(self.disk, "relabel.toml")
        with open(config, "w") as f:
            f.write(f'log_file = "{logfile}"\nlog_level = "info"\n')
        env = dict(self.env, MCSRUN_CONFIG=config)
        root = self.runc_root("relabel-root")
        first_label, right_label = RELABEL_LEVELS
        for inodes, rounds, warmup in sizes:
            log(f"relabel, {inodes:,} inodes: building the tree...")
            bundle = os.path.join(self.disk, f"relabel-{inodes}")
            tree = os.path.join(bundle, "rootfs")
            build_tree(tree, inodes)
            counted = count_inodes(tree)
            if counted != inodes:
                raise Broken(f"tree {tree} has {counted} inodes, not {inodes}")
            configs = {level: runc_spec(self.runc, bundle, ["true"], {"run.mcsrun.level": level})
                       for level in RELABEL_LEVELS}
            log(f"relabel, {inodes:,} inodes: {rounds} rounds...")
            events = {True: [], False: []}

            def chcon(level, first):
                context = f"{FILE_TYPE}:{level}"
                r = measure(["chcon", "-R", "-h", context, tree])
                if first:
                    check_labels(tree, context, "chcon -R")
                return r

            def mcsrun(level, first):
                context = f"{FILE_TYPE}:{level}"
                write_config(bundle, configs[level])
                cid = self.next_id("relabel")
                open(logfile, "w").close()
                r = measure(self.mcs("force", "--mcs-runtime", "/bin/true", "--root", root,
                                     "create", "--bundle", bundle, cid), env)
                run(self.mcs("force", "--mcs-runtime", "/bin/true", "--root", root, "delete", cid),
                    env=env)
                with open(logfile) as f:
                    ev = [e for e in map(json.loads, f) if e.get("event") == "rootfs"]
                if len(ev) != 1 or "files_seen" not in ev[0]:
                    raise Broken(f"mcsrun logged no relabel of {tree}: {ev}")
                events[first].append(ev[0])
                if first:
                    check_labels(tree, context, "mcsrun create")
                return r

            results = {True: ([], []), False: ([], [])}
            for i in range(warmup + rounds):
                tools = [chcon, mcsrun] if i % 2 == 0 else [mcsrun, chcon]
                got = {}
                got[tools[0], True] = tools[0](first_label, True)
                got[tools[1], True] = tools[1](right_label, True)
                got[tools[1], False] = tools[1](right_label, False)
                got[tools[0], False] = tools[0](right_label, False)
                if i >= warmup:
                    for first in (True, False):
                        results[first][0].append(got[chcon, first])
                        results[first][1].append(got[mcsrun, first])
                else:
                    events = {True: [], False: []}
            for first, name in ((True, "first pass"), (False, "already right")):
                c, m = results[first]
                goal = "≤ 0.5" if (first and inodes == 10_100) else "–"
                what = f"relabel {inodes:,}-inode plain rootfs, {name}"
                self.table.pair(f"{what}, wall", "`chcon -R`", column(c, "wall"),
                                column(m, "wall"), goal)
                self.table.pair(f"{what}, CPU", "`chcon -R`", column(c, "cpu"), column(m, "cpu"))
            parts = []
            for first, name in ((True, "first pass"), (False, "already right")):
                evs = events[first]
                seen = sorted({e["files_seen"] for e in evs})
                changed = sorted({e.get("files_changed") for e in evs})
                if first and changed != [inodes] or not first and changed != [0]:
                    raise Broken(f"mcsrun's {name} over {inodes} inodes changed {changed}")
                dur = statistics.median(e.get("duration_ms", 0.0) for e in evs)
                parts.append(f"{name} {fmt_ms(dur)} (seen {'/'.join(map(str, seen))}, "
                             f"changed {'/'.join(map(str, changed))})")
            self.details.append(f"relabel inside `mcsrun create`, {inodes:,} inodes, from "
                                f"mcsrun's log (median): " + "; ".join(parts))
            self.relabelled = True
            shutil.rmtree(bundle, ignore_errors=True)

        log("relabel_tree in process (example relabel_speed)...")
        out = run([self.relabel_speed, "10000", self.disk], capture=True).stdout
        parts = []
        for line in out.splitlines():
            f = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
            if line.startswith("relabel "):
                parts.append(f"threads={f['threads']} {f['pass']} {float(f['ms']):.1f} ms")
        if not parts:
            raise Broken(f"relabel_speed printed no results: {out!r}")
        self.details.append("fs-label relabel_tree in process, 10,101 inodes (relabel_speed): "
                            + ", ".join(parts))

    # ------------------------------------------------------------ allocator

    def bench_alloc(self):
        live = [0, 1_000, 10_000, 100_000]
        rounds = 2_000 if self.quick else 20_000
        if self.quick:
            live = [0, 1_000, 10_000]
        log(f"allocator curve ({', '.join(map(str, live))} live levels, {rounds} rounds)...")
        out = run([self.alloc_bench, "--dir", self.tmpfs, "--live", ",".join(map(str, live)),
                   "--rounds", str(rounds)], capture=True).stdout
        res = {}
        for line in out.splitlines():
            if not line.startswith("alloc "):
                continue
            f = dict(kv.split("=", 1) for kv in line.split()[1:])
            res[(int(f["live"]), f["op"])] = f
        for n in live:
            try:
                a, r = res[(n, "allocate")], res[(n, "release")]
                ga, gd = res[(n, "gc-alive")], res[(n, "gc-dead")]
            except KeyError as e:
                raise Broken(f"alloc_bench printed no {e} line:\n{out}") from None
            self.table.plain(
                f"allocate / release, {n:,} live levels (median, p99)",
                f"{fmt_us(float(a['median_us']))}, p99 {fmt_us(float(a['p99_us']))} / "
                f"{fmt_us(float(r['median_us']))}, p99 {fmt_us(float(r['p99_us']))}",
                "p99 ≤ 200 µs" if n == 10_000 else "–")
            self.table.plain(
                f"GC pass, {n:,} live levels (all alive / all dead)",
                f"{fmt_ms(float(ga['ms']))} / {fmt_ms(float(gd['ms']))}",
                "≤ 50 ms" if n == 10_000 else "–")

        held = 10_000
        log(f"create with {held:,} levels held vs none...")
        full = os.path.join(self.tmpfs, "state-full")
        empty = os.path.join(self.tmpfs, "state-empty")
        owners = os.path.join(self.tmpfs, "fill-owners")
        t0 = time.perf_counter()
        run([self.alloc_bench, "fill", full, owners, str(held)])
        fill_s = time.perf_counter() - t0
        listed = run([self.mcsctl, "--state-dir", full, "list"], env=self.env,
                     capture=True).stdout.splitlines()
        if len(listed) - 1 != held:
            raise Broken(f"mcsctl lists {len(listed) - 1} holds in {full}, not {held}")
        bundle = os.path.join(self.tmpfs, "held-bundle")
        cfg = busybox_bundle(self.runc, bundle, ["sleep", "100000"])
        root = self.runc_root("held-root")
        mode = self.mcs("dry-run")

        def create(state):
            env = dict(self.env, MCSRUN_STATE_DIR=state)
            cid = self.next_id("held")
            write_config(bundle, cfg)
            r = measure(mode + ["--root", root, "create", "--bundle", bundle, cid], env)
            run(mode + ["--root", root, "delete", "--force", cid], env=env)
            return r

        b, m = alternate(self.runs, lambda: create(empty), lambda: create(full))
        self.table.pair(f"`create` (labelling, tmpfs bundle) with {held:,} levels held, wall",
                        "none held:", column(b, "wall"), column(m, "wall"), "≤ 1.02")
        self.details.append(
            f"the {held:,} holds were made by `alloc_bench fill` (the allocator's own code, "
            f"owners alive, listed by mcsctl) in {fill_s:.1f} s; filling through "
            f"`mcsrun create` would cost one container create each")

    # ------------------------------------------------------------ memory

    def bench_rss(self):
        if not self.gnu_time:
            self.details.append("GNU time (/usr/bin/time) not installed: no peak RSS")
            return
        log("peak RSS...")
        bundle = os.path.join(self.tmpfs, "rss-bundle")
        cfg = busybox_bundle(self.runc, bundle, ["true"])
        root = self.runc_root("rss-root")
        figures = []
        for mode, call in (("off", "state"), ("off", "create"), ("dry-run", "create")):
            write_config(bundle, cfg)
            cid = self.next_id("rss")
            args = ["state", cid] if call == "state" else ["create", "--bundle", bundle, cid]
            out = run(["/usr/bin/time", "-f", "%M"] + self.mcs(mode, "--mcs-runtime", "/bin/true",
                                                              "--root", root) + args,
                      env=self.env, capture=True)
            kib = int(out.stderr.strip().splitlines()[-1])
            figures.append(f"{call} --mcs-selinux {mode} {kib / 1024:.2f} MiB")
        self.details.append("peak RSS of mcsrun (GNU time, runtime /bin/true): "
                            + ", ".join(figures))

    # ------------------------------------------------------------ all

    def main(self):
        start = time.monotonic()
        load0 = os.getloadavg()
        log(f"load average at start: {' '.join(f'{x:.2f}' for x in load0)}")
        runc_version = run([self.runc, "--version"], capture=True).stdout.splitlines()[0]
        sections = {"state": self.bench_state, "life": self.bench_lifecycle,
                    "relabel": self.bench_relabel, "alloc": self.bench_alloc, "rss": self.bench_rss}
        for name, section in sections.items():
            if self.opts.only is None or name in self.opts.only:
                section()
        load1 = os.getloadavg()
        print(f"mcsrun cost, {'quick' if self.quick else 'full'} run, {self.runs} runs per "
              f"comparison; {os.cpu_count()} CPUs, {os.uname().release}, {runc_version} "
              f"({self.runc})")
        print(f"load average at start {' '.join(f'{x:.2f}' for x in load0)}, at end "
              f"{' '.join(f'{x:.2f}' for x in load1)}")
        print()
        self.table.print()
        print()
        print(f"- bundles on {fs_type(self.disk)} ({self.disk}) and {fs_type(self.tmpfs)} "
              f"({self.tmpfs}); runc root and mcsrun state on tmpfs; config.json rewritten "
              f"before each create, as an engine does; perf task-clock "
              f"{'measured' if self.perf else 'unavailable'}")
        print("- medians; ratio = mcsrun median / baseline median, then the min–max over the "
              "back-to-back pairs; CPU = user+sys of the call and all it waited for")
        if self.relabelled:
            print("- chcon -R writes security.selinux on this host without SELinux (labels "
                  "checked after every first pass, chcon and mcsrun alike)")
        for line in self.details:
            print(f"- {line}")
        print(f"- took {time.monotonic() - start:.0f} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small counts (under 2 minutes)")
    ap.add_argument("--runs", type=int, help="pairs per comparison (default 30, quick 5)")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--target", default=os.environ.get(
        "CARGO_TARGET_DIR", os.path.join(here, "..", "..", "target")),
        help="cargo target dir holding release/mcsrun, mcsctl and the examples")
    ap.add_argument("--only", type=lambda v: set(v.split(",")),
                    help="run only these sections: state,life,relabel,alloc,rss")
    opts = ap.parse_args()
    if opts.runs is None:
        opts.runs = 5 if opts.quick else 30
    if opts.runs < 1:
        ap.error("--runs must be at least 1")
    if os.geteuid() != 0:
        sys.exit("bench.py: run as root (runc containers, chcon of security.selinux)")
    bench = None
    try:
        bench = Bench(opts)
        bench.main()
    except Broken as e:
        print(f"bench: broken run: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        if bench is not None:
            bench.cleanup()


if __name__ == "__main__":
    main()
