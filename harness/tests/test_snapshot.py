"""Snapshots on ovmf: qcow2 overlays and a QMP monitor on the command line
(still safe), the serial re-sync after loadvm, and a short run where every
scenario after the first starts from `loadvm ready`."""
import json
import socket
import zlib

from conftest import ROOT, fwnet
from fwnet import guest, qemu


def frame(text):
    b = text.encode()
    return b"@@F %s %08x F@@\r\n" % (b, zlib.crc32(b) & 0xffffffff)


class FakeQ:
    log_path = "/dev/null"

    def alive(self):
        return True


def test_resync_drops_stale_frames(tmp_path):
    a, b = socket.socketpair()
    g = guest.GuestConn(FakeQ(), a, str(tmp_path), "tcg")
    # the rolled-back run's tail, a frame of an older nonce, then the answer
    b.sendall(frame("ok op=recv ret=5") + b"@@F ok op=send ret=3 trunc" + frame("ok op=hello nonce=6") +
              frame("ok op=hello backend=efi nonce=7"))
    r = g.resync(7, timeout=5)
    assert "nonce=7" in r
    assert b.recv(100).startswith(b"\rhello nonce=7\r")
    b.sendall(frame("ok op=open ret=0"))
    assert g.ask("open", 5) == "ok op=open ret=0"  # counting starts afresh after the nonce


def test_snapshot_cmdline_is_checked_and_safe(tmp_path):
    fw = {"code": "/c.fd", "vars": "/v.fd", "arch": "x86_64", "features": [], "vars_format": "qcow2"}
    boot = qemu.ovmf_boot(fw, str(tmp_path / "vars.qcow2"), str(tmp_path / "disk.qcow2"), "qcow2")
    cmd = qemu.make_cmdline(boot, "tcg", "virtio", [], [], "/p.pcap", "/s.sock", qmp_sock=str(tmp_path / "qmp.sock"))
    s = " ".join(cmd)
    assert "if=pflash,format=qcow2,unit=1" in s and "format=qcow2,file=%s/disk.qcow2" % tmp_path in s
    assert "-qmp unix:%s/qmp.sock,server=on,wait=off" % tmp_path in s and "restrict=on" in s
    assert "if=pflash,format=raw,unit=0,readonly=on" in s  # CODE stays raw, read-only


def test_scenarios_start_from_the_snapshot(built, tmp_path):
    out = tmp_path / "o"
    r = fwnet("run", "--backend", "ovmf", "tcp-connect-ok", "tcp-echo-1", "tcp-reset", "--no-build",
              "--out", str(out), timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    (b,) = json.load(open(out / "results.json"))["backends"]
    assert b["snapshot"] is True and b["extra"]["snapshot"]["savevm_s"], b.get("snapshot_why")
    cases = [c for c in b["scenarios"] if c["verdict"] != "skip"]
    assert len(cases) == 3 and all(c["verdict"] == "pass" for c in cases)
    assert "restore_s" not in cases[0] and all(c["restore_s"] < 5 for c in cases[1:])
    assert "qmp.sock" in (out / "ovmf" / "qemu.cmdline").read_text()
    assert "median" in (out / "summary.txt").read_text()
    r = fwnet("run", "--backend", "ovmf", "tcp-connect-ok", "tcp-echo-1", "--no-snapshot", "--no-build",
              "--out", str(tmp_path / "n"), timeout=300)
    assert r.returncode == 0, r.stdout[-3000:]
    (b,) = json.load(open(tmp_path / "n" / "results.json"))["backends"]
    assert b["snapshot"] is False and b["snapshot_why"] == "--no-snapshot"
    assert "qmp" not in (tmp_path / "n" / "ovmf" / "qemu.cmdline").read_text()
