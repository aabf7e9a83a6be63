import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "harness"))


def fwnet(*args, timeout=600):
    """Run the CLI as a user would (with Debian's python3)."""
    return subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "harness", "fwnet.py")] + list(args),
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="session")
def built():
    """The release tree must exist (fwnet test builds it first)."""
    agent = os.path.join(ROOT, "build", "release", "agent", "fwnet-agent-linux")
    if not os.path.exists(agent):
        r = fwnet("build")
        assert r.returncode == 0, r.stderr
    return True


def qemu_processes(under):
    """QEMU processes whose command line names a path under `under` (this
    test's run): other runs on the machine are not this test's business."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"qemu-system-x86_64") and any(str(under).encode() in a for a in argv):
            found.append(pid)
    return found
