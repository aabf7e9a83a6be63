"""Integration on real firmware: core scenarios on Debian's OVMF (QEMU,
TCG when KVM does not work), errors that name the component, and nothing
left running afterwards."""
import json
import os

import pytest
from conftest import fwnet, qemu_processes

CORE = ["tcp-connect-ok", "tcp-connect-refused", "tcp-connect-nonblocking", "tcp-accept",
        "tcp-echo-1k", "tcp-recv-after-fin", "tcp-reset", "tcp-select-timeout", "tcp-recv-1m",
        "quirks-bits-era", "tcp-half-close"]

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/share/OVMF/OVMF_CODE_4M.fd"),
                                reason="Debian's ovmf package is not installed")


def test_core_scenarios_on_ovmf(built, tmp_path):
    out = str(tmp_path / "run")
    r = fwnet("run", *CORE, "--backend", "ovmf", "--no-build", "--out", out, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    res = json.load(open(os.path.join(out, "results.json")))
    b = res["backends"][0]
    assert b["accel"] in ("kvm", "tcg")
    assert b["facts"]["backend"] == "efi" and "tcp4" in b["facts"]["protocols"]
    # the agent drives the serial port itself (efi_chan.c), not through the terminal's 20 ms poll
    assert b["facts"].get("chan") == "serial", b["facts"]
    assert all(c["verdict"] == "pass" for c in b["scenarios"]), b["scenarios"]
    pcap = os.path.join(out, "ovmf", "capture.pcap")
    with open(pcap, "rb") as f:
        assert f.read(4) in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4")  # a pcap file
    assert os.path.getsize(pcap) > 10000
    assert not qemu_processes(out)


def test_missing_firmware_is_a_clear_error(built, tmp_path):
    r = fwnet("run", "tcp-echo-1", "--no-build", "--firmware", "/nonexistent/OVMF_CODE.fd",
              "--out", str(tmp_path / "o"))
    assert r.returncode == 1
    assert "firmware '/nonexistent/OVMF_CODE.fd' not found" in r.stdout
    assert not qemu_processes(tmp_path)


def test_guest_that_never_answers(built, tmp_path):
    # Firmware that is not firmware: QEMU runs, no agent ever answers.
    bad = tmp_path / "BAD_CODE.fd"
    bad.write_bytes(b"\xf4" * (4 << 20))  # hlt everywhere
    (tmp_path / "BAD_VARS.fd").write_bytes(open("/usr/share/OVMF/OVMF_VARS_4M.fd", "rb").read())
    out = tmp_path / "o"
    r = fwnet("run", "tcp-echo-1", "--no-build", "--firmware", str(bad), "--boot-timeout", "8",
              "--out", str(out), "--accel", "tcg", timeout=120)
    assert r.returncode == 1
    assert "guest gave no reply within 8 s" in r.stdout
    d = out / "ovmf"
    assert (d / "qemu.log").exists() and (d / "qemu.cmdline").exists()  # artifacts kept
    assert not qemu_processes(out)


def test_interrupted_run_leaves_nothing_running(built, tmp_path):
    import signal
    import subprocess
    import time
    out = tmp_path / "o"
    p = subprocess.Popen(["/usr/bin/python3", "harness/fwnet.py", "run", "core", "--no-build", "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not qemu_processes(out):
        time.sleep(0.2)
    assert qemu_processes(out), "QEMU never started"
    time.sleep(2)
    p.send_signal(signal.SIGTERM)  # as CI cancels a job
    text, _ = p.communicate(timeout=30)
    assert p.returncode == 130 and "interrupted" in text
    assert not qemu_processes(out)
    assert (out / "ovmf" / "qemu.log").exists() and (out / "ovmf" / "serial.log").exists()
