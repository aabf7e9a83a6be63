"""The fwnet CLI (argparse). Subcommands: build, test."""
import argparse
import sys

from . import build as bld


def cmd_build(args):
    for t in args.trees:
        bld.build(t, args.jobs)
    return 0


def cmd_test(args):
    """The README's test command: both builds, all unit tests."""
    rc = 0
    for t in ("release", "asan"):
        bld.build(t, args.jobs)
        rc |= bld.ctest(t, args.jobs)
    if rc:
        print("fwnet: unit tests FAILED", file=sys.stderr)
    return 1 if rc else 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="fwnet", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build host code and EFI targets")
    b.add_argument("trees", nargs="*", default=["release"], choices=sorted(bld.TREES))
    b.add_argument("--jobs", "-j", type=int)
    b.set_defaults(func=cmd_build)
    t = sub.add_parser("test", help="build everything, run every test (also under ASan/UBSan)")
    t.add_argument("--jobs", "-j", type=int)
    t.set_defaults(func=cmd_test)
    args = p.parse_args(argv)
    try:
        return args.func(args)
    except bld.BuildError as e:
        print("fwnet: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fwnet: interrupted", file=sys.stderr)
        return 130
