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
    scens = scenario.load_dir(args.scenario_dir, args.scenarios)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = os.path.abspath(args.out or os.path.join(bld.ROOT, "out", stamp))
    os.makedirs(out, exist_ok=True)
    print("fwnet: %d scenario(s), backends %s, isolation: %s (%s), results in %s"
          % (len(scens), ",".join(args.backend), args.isolation, iso_why, out), flush=True)
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
        problems = bench.check(res, json.load(open(bp)), args.tolerance, args.poll_tolerance, args.overhead_tolerance)
        for p in problems:
            print("fwnet bench: REGRESSION %s" % p)
        print("fwnet bench: check against %s: %s" % (os.path.relpath(bp, bld.ROOT), "FAILED" if problems else "passed"))
        return 1 if problems else 0
    return 0


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
        r.add_argument("--firmware", help="firmware name (fwnet firmware) or path to a CODE file")
        r.add_argument("--nic", default="virtio", choices=["virtio", "e1000"])
        r.add_argument("--image", help="a multiboot image for --backend rump and image peers "
                                       "(default: rump-hw's fwnet-rump.elf)")
        r.add_argument("--append", help="the image's command line (default: static 10.0.2.15/24 and "
                                        "the services the role needs)")
        r.add_argument("--quirks", default="", help="quirk profile applied to every scenario")
        r.add_argument("--accel", choices=["kvm", "tcg"], help="force the accelerator")
        r.add_argument("--net", default="slirp", choices=["slirp", "netsim", "tap"],
                       help="QEMU's user network (restrict=on), fwnet-netsim (impairments, rules, DNS, pcap), "
                            "or a tap device inside fwnet's network namespace (root)")
        r.add_argument("--seed", type=int, default=1, help="netsim's random seed (reported)")
        r.add_argument("--jobs", type=int, default=1, help="parallel QEMU instances (ovmf)")
        r.add_argument("--jobs-build", type=int, help=argparse.SUPPRESS)
        r.add_argument("--keep", action="store_true", help="keep disk images and vars copies")
        r.add_argument("--out", help="results directory (default out/<time>)")
        r.add_argument("--timeout", type=int, default=30, help="seconds per step")
        r.add_argument("--boot-timeout", type=int, default=90, help="seconds for the guest agent to start")
        r.add_argument("--no-build", action="store_true")
        r.add_argument("--scenario-dir", default=SCEN_DIR)
        r.add_argument("--update", action="store_true", help=argparse.SUPPRESS if name == "run" else "write goldens")
        r.set_defaults(func=cmd_run if name == "run" else cmd_golden, update_golden=False)
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
