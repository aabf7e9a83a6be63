"""fwnet: build, run socket-conformance scenarios on Linux, the fakes and
OVMF, and check them against golden results."""
import argparse
import atexit
import os
import sys
import time

from . import build as bld
from . import backends, isolation, qemu, runner, scenario

SCEN_DIR = os.path.join(bld.ROOT, "scenarios")


def cmd_build(args):
    bad = [t for t in args.trees if t not in bld.TREES]
    if bad:
        print("fwnet build: no such tree: %s (trees: %s)" % (", ".join(bad), ", ".join(sorted(bld.TREES))),
              file=sys.stderr)
        return 2
    for t in args.trees or ["release"]:
        bld.build(t, args.jobs)
    return 0


def cmd_test(args):
    """The README's test command: both builds, all tests."""
    rc = 0
    for t in ("release", "asan"):
        bld.build(t, args.jobs)
        rc |= bld.ctest(t, args.jobs)
    if rc:
        print("fwnet: unit tests FAILED", file=sys.stderr)
        return 1
    import subprocess
    print("fwnet: harness tests (pytest)", flush=True)
    env = dict(os.environ, FWNET_NO_BUILD="1")
    r = subprocess.call(["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                         os.path.join(bld.ROOT, "harness", "tests")], env=env, cwd=bld.ROOT)
    return 1 if r else 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def _on_signals():
    # Ctrl-C, CI cancellation (SIGTERM) and a closed terminal all end the run
    # the same way: QEMU, relays and peers stopped, artifacts kept. (A
    # background job may even start with SIGINT ignored.)
    import signal
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)


def _preamble(args, jobs=None):
    """What every command that starts guests or peers does first: signals
    end it cleanly, it moves into a fresh network namespace (sets
    args.isolation; returns its detail), every QEMU is stopped at exit, and
    the release tree is built unless --no-build."""
    _on_signals()
    args.isolation, iso_why = isolation.enter()
    atexit.register(qemu.Qemu.stop_all)
    if not args.no_build:
        bld.build("release", jobs, quiet=False)
    return iso_why


def cmd_run(args):
    iso_why = _preamble(args, args.jobs_build)
    if any(b in runner.QEMU_BACKENDS for b in args.backend):
        from . import lannet  # --net auto: lan when a tap may be made here, else slirp (reported)
        args.net, args.net_why = lannet.choose(args.net, args.isolation)
    scens = scenario.load_dir(args.scenario_dir, args.scenarios)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = os.path.abspath(args.out or os.path.join(bld.ROOT, "out", stamp))
    os.makedirs(out, exist_ok=True)
    print("fwnet: %d scenario(s), backends %s, isolation: %s (%s), results in %s"
          % (len(scens), ",".join(args.backend), args.isolation, iso_why, out), flush=True)
    if getattr(args, "net_why", None):
        print("fwnet: network %s (%s)" % (args.net, args.net_why), flush=True)
    _, text, bad = runner.run(args, scens, out, stamp, iso_why, lambda msg: print(msg, flush=True))
    print(text)
    print("fwnet: results %s/{results.json,junit.xml,summary.txt}" % out)
    return 1 if bad else 0


def cmd_golden(args):
    if not args.update:
        print("fwnet golden: nothing to do without --update", file=sys.stderr)
        return 2
    args.backend = ["linux"]
    args.update_golden = True
    return cmd_run(args)


def cmd_bench_rump(args):
    from . import rumpbench
    iso_why = _preamble(args)
    out = os.path.abspath(args.out or os.path.join(bld.ROOT, "out", "rumpbench-" + time.strftime("%Y%m%d-%H%M%S")))
    try:
        res = rumpbench.run(args, lambda m: print(m, flush=True), out)
    except (rumpbench.BenchError, qemu.QemuError, bld.BuildError, OSError) as e:
        print("fwnet bench-rump: %s (artifacts in %s)" % (e, out), file=sys.stderr)
        return 1
    print(rumpbench.table_text(res))
    print("fwnet bench-rump: isolation %s; results %s/rumpbench.json" % (iso_why, out))
    return 0


def bench_parts(text):
    """--only: names a measurement of fwnet bench, or a direction."""
    from . import bench
    parts = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in parts if x not in bench.PARTS]
    if bad or not parts:
        raise argparse.ArgumentTypeError("unknown %s (known: %s)" % (",".join(bad) or "nothing",
                                                                     ", ".join(bench.PARTS)))
    return set(parts)


def cmd_bench(args):
    import json
    from . import bench, bench_report
    _on_signals()
    if args.report:  # only build an HTML report from result files
        results = [json.load(open(p)) for p in args.report]
        out = args.out or "bench-report.html"
        bench_report.write(out, results)
        print("fwnet bench: report %s" % out)
        return 0
    if args.netsim_compare:
        _preamble(args)
        out = os.path.abspath(args.out or os.path.join(bld.ROOT, "out", "netsim-bench-" + time.strftime("%Y%m%d-%H%M%S")))
        try:
            res = bench.netsim_compare(args, lambda m: print(m, flush=True), out)
        except (bench.BenchError, backends.BackendError, qemu.QemuError) as e:
            print("fwnet bench: %s (artifacts in %s)" % (e, out), file=sys.stderr)
            return 1
        with open(os.path.join(out, "netsim-compare.json"), "w") as f:
            json.dump(res, f, indent=1)
        print("fwnet bench: results %s/netsim-compare.json" % out)
        return 0
    if args.update and getattr(args, "only", None):
        print("fwnet bench: --update records a whole baseline; not with --only", file=sys.stderr)
        return 2
    if args.from_file:  # judge an earlier run instead of measuring
        res = json.load(open(args.from_file))
        print(bench.table_text(res))
    else:
        _preamble(args)
        if args.quick:
            args.size = 16
        if args.repeat is None:
            args.repeat = 1 if args.quick else 3
        args.size = int(args.size * (1 << 20))
        out = os.path.abspath(args.out or os.path.join(bld.ROOT, "out", "bench-" + time.strftime("%Y%m%d-%H%M%S")))
        b = bench.Bench(args, lambda m: print(m, flush=True))
        try:
            res = b.run(out)
        except (bench.BenchError, backends.BackendError, qemu.QemuError) as e:
            print("fwnet bench: %s (artifacts in %s)" % (e, out), file=sys.stderr)
            return 1
        res["quick"] = bool(args.quick)
        with open(os.path.join(out, "bench.json"), "w") as f:
            json.dump(res, f, indent=1)
        history = [json.load(open(p)) for p in (args.history or [])] + [res]
        bench_report.write(os.path.join(out, "report.html"), history)
        print(bench.table_text(res))
        print("fwnet bench: results %s/bench.json, report %s/report.html" % (out, out))
    bp = bench.baseline_path(res["facts"])
    if res.get("quick"):
        bp = bp.replace(".json", "-quick.json")
    if args.update:
        os.makedirs(os.path.dirname(bp), exist_ok=True)
        with open(bp, "w") as f:
            json.dump(bench.to_baseline(res), f, indent=1)
            f.write("\n")
        print("fwnet bench: baseline written: %s" % os.path.relpath(bp, bld.ROOT))
    if args.check:
        if not os.path.exists(bp):
            print("fwnet bench: no baseline %s (record one with --update)" % bp, file=sys.stderr)
            return 1
        notes = []
        problems = bench.check(res, json.load(open(bp)), args.tolerance, args.poll_tolerance, args.overhead_tolerance,
                               notes=notes)
        for n in notes:
            print("fwnet bench: NOTE %s" % n)
        for p in problems:
            print("fwnet bench: REGRESSION %s" % p)
        print("fwnet bench: check against %s: %s" % (os.path.relpath(bp, bld.ROOT), "FAILED" if problems else "passed"))
        return 1 if problems else 0
    return 0


# ---- fwnet matrix, merge, compare (matrix.py, grid.py) ----

_RUN_PARSER = []


def cmd_matrix(args):
    from . import matrix
    if args.emit_ci or args.check_ci:
        stale = matrix.emit_ci(check=args.check_ci)
        for f in stale:
            print("fwnet matrix: ci/%s %s" % (f, "is stale (fwnet matrix --emit-ci)" if args.check_ci else "written"))
        return 1 if (stale and args.check_ci) else 0
    try:
        plan = matrix.plan_from_args(args)
    except matrix.MatrixError as e:
        print("fwnet matrix: %s" % e, file=sys.stderr)
        return 2
    if args.list:
        for c in matrix.cells_of(plan):
            why = matrix.cannot_boot(plan, c)
            print(c.id + ("  (cannot boot: %s)" % why if why else ""))
        return 0
    # every option of `fwnet run` at its default, then the matrix's own
    base = _RUN_PARSER[0].parse_args([])
    for k, v in vars(args).items():
        if k not in ("firmware", "nic", "quirks", "fw_cfg"):
            setattr(base, k, v)
    base.backend = [plan.get("backend", "ovmf")]
    iso_why = _preamble(base, None)
    scens = scenario.load_dir(args.scenario_dir, plan.get("scenarios") or None)
    out = os.path.abspath(args.out or os.path.join(bld.ROOT, "out", "matrix-" + time.strftime("%Y%m%d-%H%M%S")))
    os.makedirs(out, exist_ok=True)
    print("fwnet matrix: isolation %s (%s), results in %s" % (base.isolation, iso_why, out), flush=True)
    t0 = time.monotonic()
    mx, text = matrix.run(base, scens, out, lambda m: print(m, flush=True), plan)
    print(text)
    print("fwnet matrix: %.0f s; %s/{grid.html,summary.txt,matrix.json,junit.xml}" % (time.monotonic() - t0, out))
    if args.probe:
        return 1 if matrix.probe_failed(mx) else 0
    return 1 if matrix.incomplete(mx) else 0


def cmd_merge(args):
    from . import matrix
    out = os.path.abspath(args.out or os.path.join(bld.ROOT, "out", "merged-" + time.strftime("%Y%m%d-%H%M%S")))
    try:
        mx, text = matrix.merge(args.dirs, out)
    except (matrix.MatrixError, OSError, ValueError) as e:
        print("fwnet merge: %s" % e, file=sys.stderr)
        return 2
    print(text)
    print("fwnet merge: %s/{grid.html,summary.txt,matrix.json,junit.xml}" % out)
    return 1 if matrix.incomplete(mx) else 0


def cmd_compare(args):
    from . import grid
    try:
        text, n = grid.compare(args.a, args.b)
    except (OSError, ValueError, KeyError) as e:
        print("fwnet compare: %s" % e, file=sys.stderr)
        return 2
    print(text)
    return 1 if n else 0


def _matrix_parsers(sub):
    from . import matrix
    mx = sub.add_parser("matrix", help="run the scenarios on every cell of a matrix (firmware x NIC x fw_cfg x quirks)")
    mx.add_argument("name", nargs="?", help="a matrix of the definition file (default, ci, fakes-demo, ...)")
    mx.add_argument("scenarios", nargs="*", help="scenario names or tags (default: the matrix's, or all)")
    mx.add_argument("--definition", default=matrix.DEFINITION, help="matrix definition file (default ci/matrix.toml)")
    mx.add_argument("--backend", choices=["ovmf", "fakes", "rump", "linux"])
    mx.add_argument("--firmware", action="append", help="a firmware (name, CODE, descriptor file or directory); repeatable")
    mx.add_argument("--firmware-dir", action="append", default=[], help="more descriptor directories")
    mx.add_argument("--nic", action="append", choices=qemu.NICS, help="a NIC model; repeatable")
    mx.add_argument("--fw-cfg", action="append", help="fw_cfg toggles of one cell, e.g. "
                                                      "'opt/org.tianocore/IPv6Support=n' (';' between several); repeatable")
    mx.add_argument("--quirks", action="append", help="a quirk profile of one cell ('' for none); repeatable")
    mx.add_argument("--shard", type=matrix.parse_shard, help="run part I of N (deterministic)")
    mx.add_argument("--jobs", type=int, default=1, help="cells in parallel QEMU instances")
    mx.add_argument("--net", default="auto", choices=["auto", "lan", "slirp", "netsim", "tap"],
                    help="as for run (auto: lan when fwnet may create a tap in its namespace, else slirp)")
    mx.add_argument("--accel", choices=["kvm", "tcg"])
    mx.add_argument("--timeout", type=int, default=30, help="seconds per step")
    mx.add_argument("--boot-timeout", type=int, default=60, help="seconds for a cell's agent to start (its deadline)")
    mx.add_argument("--out", help="results directory (default out/matrix-<time>)")
    mx.add_argument("--keep", action="store_true")
    mx.add_argument("--no-snapshot", dest="snapshot", action="store_false",
                    help="ovmf: no savevm/loadvm between scenarios (see fwnet run --help)")
    mx.add_argument("--no-build", action="store_true")
    mx.add_argument("--scenario-dir", default=SCEN_DIR)
    mx.add_argument("--list", action="store_true", help="list the cells and exit")
    mx.add_argument("--probe", action="store_true", help="boot each cell once (agent hello, fwinfo): boot seconds, "
                    "firmware, NIC driver, or why it cannot boot; no scenarios")
    mx.add_argument("--emit-ci", action="store_true", help="write ci/github-workflow.yml and ci/gitlab-ci.yml")
    mx.add_argument("--check-ci", action="store_true", help="fail when the CI files are not what --emit-ci writes")
    mx.set_defaults(func=cmd_matrix)
    mg = sub.add_parser("merge", help="join shard results (fwnet matrix --shard) into one matrix report")
    mg.add_argument("dirs", nargs="+")
    mg.add_argument("--out")
    mg.set_defaults(func=cmd_merge)
    cp = sub.add_parser("compare", help="what changed between two runs or two cells (DIR or DIR#CELL-ID)")
    cp.add_argument("a")
    cp.add_argument("b")
    cp.set_defaults(func=cmd_compare)


def cmd_list(args):
    for sc in scenario.load_dir(args.scenario_dir):
        print("%-30s %-22s %s" % (sc.name, ",".join(sc.tags), sc.description))
    return 0


def cmd_firmware(args):
    for f in qemu.firmware_list(args.firmware_dir):
        if "error" in f:
            print("%-40s %s" % (f["name"], f["error"]))
            continue
        print("%-40s %-7s %-8s %s%s" % (f["name"], f["arch"], "present" if f["present"] else "missing",
                                        f["code"], "  [" + ",".join(f["features"]) + "]" if f["features"] else ""))
    return 0


def cmd_bugs(args):
    """`fwnet bugs`: bugs.py's catalogue, run one firmware at a time through runner.run_backend."""
    from . import bugs
    try:
        entries = bugs.load(args.bugs_dir or bugs.BUGS_DIR)
        if args.bug:
            unknown = [b for b in args.bug if b not in {e.id for e in entries}]
            if unknown:
                raise bugs.CatalogueError("no catalogue entry %s" % ", ".join(unknown))
            entries = [e for e in entries if e.id in args.bug]
    except bugs.CatalogueError as e:
        print("fwnet bugs: %s" % e, file=sys.stderr)
        return 2
    if args.list:
        print(bugs.listing(entries))
        return 0
    fws = [bugs.firmware_info(f) for f in args.firmware] if args.firmware else bugs.default_firmwares()
    iso_why = _preamble(args)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = os.path.abspath(args.out or os.path.join(bld.ROOT, "out", "bugs-" + stamp))

    def make_opts(fw, net):
        argv = ["run", "--backend", "ovmf", "--no-build", "--timeout", str(args.timeout)] + (["--net", net] if net else [])
        o = args.parser.parse_args(argv + (["--firmware", fw] if fw else []))
        o.isolation = args.isolation
        return o
    print("fwnet bugs: %d entries on %s, isolation: %s (%s), results in %s"
          % (len(entries), ", ".join(f["label"] for f in fws), args.isolation, iso_why, out), flush=True)
    verdicts = bugs.run_catalogue(entries, fws, make_opts, SCEN_DIR, out, lambda m: print(m, flush=True))
    text = bugs.table(entries, fws, verdicts)
    with open(os.path.join(out, "bugs.txt"), "w") as f:
        f.write(text + "\n")
    print(text)
    if args.check:
        bad = bugs.unexpected(entries, fws, verdicts)
        for b in bad:
            print("fwnet bugs: %s on %s: %s, expected %s (%s)" % b, file=sys.stderr)
        return 1 if bad else 0
    return 0


def main(argv=None):
    import signal
    p = argparse.ArgumentParser(prog="fwnet", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build host code and EFI targets")
    # checked in cmd_build: argparse (3.11) checks an empty nargs="*" list against choices and refuses it
    b.add_argument("trees", nargs="*", help="%s (default: release)" % ", ".join(sorted(bld.TREES)))
    b.add_argument("--jobs", "-j", type=int)
    b.set_defaults(func=cmd_build)
    t = sub.add_parser("test", help="build everything, run every test (also under ASan/UBSan)")
    t.add_argument("--jobs", "-j", type=int)
    t.set_defaults(func=cmd_test)
    for name in ("run", "golden"):
        r = sub.add_parser(name, help="run scenarios" if name == "run" else "re-record goldens from Linux")
        r.add_argument("scenarios", nargs="*", help="scenario names or tags (default: all)")
        r.add_argument("--backend", action="append", choices=sorted(backends.BACKENDS))
        r.add_argument("--firmware", help="firmware: a descriptor name (fwnet firmware), a descriptor file, "
                                          "or a CODE file (its vars template found by its descriptor or name)")
        r.add_argument("--firmware-dir", action="append", default=[], help="more descriptor directories")
        r.add_argument("--nic", default="virtio", choices=qemu.NICS,
                       help="virtio: OVMF's VirtioNetDxe; the others: iPXE's EFI ROMs (virtio-ipxe: iPXE's virtio)")
        r.add_argument("--image", help="a multiboot image for --backend rump and image peers "
                                       "(default: rump-hw's fwnet-rump.elf)")
        r.add_argument("--append", help="the image's command line (default: static 10.0.2.15/24 and "
                                        "the services the role needs)")
        r.add_argument("--quirks", default="", help="quirk profile applied to every scenario")
        r.add_argument("--accel", choices=["kvm", "tcg"], help="force the accelerator")
        r.add_argument("--net", default="auto", choices=["auto", "lan", "slirp", "netsim", "tap"],
                       help="auto (default): lan when fwnet may create a tap in its namespace (root or "
                            "CAP_NET_ADMIN there), else slirp; lan: fwnet-netsim with a real Linux stack, "
                            "dnsmasq and peers behind it; slirp: QEMU's user network (restrict=on); netsim: "
                            "fwnet-netsim with slirp behind it; tap: a bare tap device in fwnet's namespace")
        r.add_argument("--seed", type=int, default=1, help="netsim's random seed (reported)")
        r.add_argument("--jobs", type=int, default=1, help="parallel QEMU instances (ovmf)")
        r.add_argument("--jobs-build", type=int, help=argparse.SUPPRESS)
        r.add_argument("--no-snapshot", dest="snapshot", action="store_false",
                       help="ovmf: run the scenarios one after another in the booted guest, as before, instead of "
                            "each from a snapshot of it (savevm once per boot, loadvm before each scenario)")
        r.add_argument("--snapshot-at", choices=["boot", "net"], default="boot",
                       help="ovmf: where scenarios start: boot (default: the agent idle, before open; every scenario "
                            "opens and configures the stack itself) or net (after open and a static net, one "
                            "snapshot per open line; DHCP and multi-guest scenarios start from boot)")
        r.add_argument("--keep", action="store_true", help="keep disk images and vars copies")
        r.add_argument("--out", help="results directory (default out/<time>)")
        r.add_argument("--timeout", type=int, default=30, help="seconds per step")
        r.add_argument("--boot-timeout", type=int, default=90, help="seconds for the guest agent to start")
        r.add_argument("--no-build", action="store_true")
        r.add_argument("--scenario-dir", default=SCEN_DIR)
        r.add_argument("--update", action="store_true", help=argparse.SUPPRESS if name == "run" else "write goldens")
        r.set_defaults(func=cmd_run if name == "run" else cmd_golden, update_golden=False)
        if name == "run":
            _RUN_PARSER.append(r)
    _matrix_parsers(sub)
    bn = sub.add_parser("bench", help="throughput and Poll-frequency benchmarks on OVMF")
    bn.add_argument("--size", type=float, default=64, help="MiB per transfer (default 64)")
    bn.add_argument("--repeat", type=int, help="repeats (default 3; --quick: 1)")
    bn.add_argument("--quick", action="store_true", help="16 MiB transfers (CI)")
    bn.add_argument("--check", action="store_true", help="fail on a regression against the baseline")
    bn.add_argument("--update", action="store_true", help="record the baseline")
    bn.add_argument("--tolerance", type=float, default=0.2, help="allowed relative fall of a ratio (default 0.2)")
    bn.add_argument("--poll-tolerance", type=float, default=0.2, help="allowed relative rise of Polls/MB (default 0.2)")
    bn.add_argument("--overhead-tolerance", type=float, default=0.25,
                    help="allowed relative rise of efi-net's overhead: guest time outside Poll per unit inside "
                         "(default 0.25)")
    bn.add_argument("--firmware")
    bn.add_argument("--nic", default="virtio", choices=["virtio", "e1000"])
    bn.add_argument("--accel", choices=["kvm", "tcg"])
    bn.add_argument("--quirks", default="")
    bn.add_argument("--boot-timeout", type=int, default=90)
    bn.add_argument("--out")
    bn.add_argument("--history", nargs="*", help="earlier bench.json files for the history plot")
    bn.add_argument("--report", nargs="*", help="only write an HTML report from these bench.json files")
    bn.add_argument("--no-build", action="store_true")
    bn.add_argument("--from", dest="from_file", help="judge (--check/--update) this bench.json instead of measuring")
    bn.add_argument("--netsim-compare", action="store_true",
                    help="fwnet-netsim against QEMU's user network: throughput both ways, latency, ratios")
    bn.add_argument("--seed", type=int, default=1)
    bn.add_argument("--net", default="slirp", choices=["slirp", "tap"],
                    help="tap (root): a real network in fwnet's namespace; adds the UDP packet rate")
    bn.add_argument("--no-pin", dest="pin", action="store_false",
                    help="leave the vCPU thread unpinned (default: a CPU of its own, the rest elsewhere)")
    bn.add_argument("--snaplen", type=int, default=128,
                    help="bytes of each frame kept in the capture (default 128: headers; 0: whole frames)")
    bn.add_argument("--only", type=bench_parts,
                    help="measure only these, comma-separated: strategies (raw, bits, efinet-adaptive, ...), "
                         "a direction (rx, tx), idle, latency, sweep")
    from . import bench as bench_opts  # fwnet bench's own options live in bench.py
    bench_opts.add_arguments(bn)
    br = sub.add_parser("bench-rump", help="figures for the rump-hw image beside a Linux reference peer")
    br.add_argument("--size", type=float, default=64, help="MiB per TCP transfer (default 64)")
    br.add_argument("--requests", type=int, default=200, help="sequential HTTP requests (concurrent: twice as many)")
    br.add_argument("--repeat", type=int, default=3, help="boots timed (median reported)")
    br.add_argument("--nic", default="virtio", choices=["virtio", "e1000"])
    br.add_argument("--image", help="another multiboot image with the same services")
    br.add_argument("--snaplen", type=int, default=128,
                    help="bytes of each frame kept in the capture (default 128: headers; 0: whole frames)")
    br.add_argument("--accel", choices=["kvm", "tcg"])
    br.add_argument("--firmware", help=argparse.SUPPRESS)
    br.add_argument("--out")
    br.add_argument("--no-build", action="store_true")
    br.set_defaults(func=cmd_bench_rump)
    bn.set_defaults(func=cmd_bench)
    ls = sub.add_parser("list", help="list scenarios")
    ls.add_argument("--scenario-dir", default=SCEN_DIR)
    ls.set_defaults(func=cmd_list)
    fw = sub.add_parser("firmware", help="list firmware from QEMU's descriptors")
    fw.add_argument("--firmware-dir", action="append", default=[], help="more descriptor directories")
    fw.set_defaults(func=cmd_firmware)
    from . import fwbuild  # `fwnet firmware build|variants`: OVMF from Debian's edk2 source (fwbuild.py)
    fws = fw.add_subparsers(dest="fwcmd")
    fwb = fws.add_parser("build", help="build an OVMF variant from Debian's edk2 source into build/cache/firmware")
    fwb.add_argument("variant", help="one of: %s" % ", ".join(fwbuild.VARIANTS))
    fwb.add_argument("--debug", action="store_true", help="the variant's DEBUG build (debugcon 0x402)")
    fwb.add_argument("--force", action="store_true", help="rebuild even when cached")
    fwb.set_defaults(func=fwbuild.cmd_build)
    fws.add_parser("variants", help="the variants and their cache entries").set_defaults(func=fwbuild.cmd_variants)
    bg = sub.add_parser("bugs", help="the EDK2 bug catalogue (bugs/) over firmware builds: present/absent table")
    bg.add_argument("--firmware", action="append",
                    help="firmware to judge (repeatable; default: the installed one and every cached fwnet build)")
    bg.add_argument("--list", action="store_true", help="print the catalogue and exit")
    bg.add_argument("--bug", action="append", help="only these entries (ids)")
    bg.add_argument("--bugs-dir", default=None, help=argparse.SUPPRESS)
    bg.add_argument("--out", help="results directory (default out/bugs-<time>)")
    bg.add_argument("--no-build", action="store_true")
    bg.add_argument("--timeout", type=int, default=30, help="seconds per step")
    bg.add_argument("--check", action="store_true",
                    help="exit 1 when a verdict is not what its entry expects for that build (CI)")
    bg.set_defaults(func=cmd_bugs, parser=p)
    args = p.parse_args(argv)
    if args.cmd in ("list", "firmware"):
        # `fwnet list | head`; never for runs, whose sockets to QEMU may break
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if getattr(args, "backend", None) is None and args.cmd == "run":
        args.backend = ["ovmf"]
    try:
        return args.func(args)
    except (bld.BuildError, scenario.ScenarioError, qemu.QemuError, backends.BackendError) as e:
        print("fwnet: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        qemu.Qemu.stop_all()
        print("fwnet: interrupted; QEMU stopped, artifacts kept", file=sys.stderr)
        return 130
