"""--jobs N on OVMF boots once: the first shard saves the snapshot and shares
copies of its images, the others start from them (-loadvm); a leader that
cannot share lets them boot themselves, never wait for ever. And a restore
takes back the other guests of a LAN only when a scenario used them."""
import json
import os
import threading
import types

from conftest import fwnet
from fwnet import qemubackend, snapshare


def test_share_leader_publishes_copies_followers_wait(tmp_path):
    gds = []
    for k in range(2):
        gd = tmp_path / ("g%d" % k)
        gd.mkdir()
        for name in snapshare.IMAGES:
            (gd / name).write_bytes(b"%s of guest %d" % (name.encode(), k))
        gds.append(str(gd))
    share = snapshare.SnapshotShare(str(tmp_path / "share"), wait_s=10)
    assert share.claim("a") and not share.claim("b") and share.claim("a")
    got = []
    t = threading.Thread(target=lambda: got.append(share.wait()))
    t.start()
    calls = []
    share.publish("ready", gds, {"backend": "efi"}, {"fwinfo": {"vendor": "EDK II"}},
                  lambda: calls.append("stop"), lambda: calls.append("cont"))
    t.join(10)
    assert calls == ["stop", "cont"]  # the images are copied with the guests stopped
    (s,) = got
    assert s.tag == "ready" and s.origin == "a" and s.facts == {"backend": "efi"}
    assert s.extra["fwinfo"]["vendor"] == "EDK II"
    assert open(s.images[1]["disk.qcow2"], "rb").read() == b"disk.qcow2 of guest 1"
    assert not s.images[0]["vars.qcow2"].startswith(gds[0])  # a copy, not the leader's own


def test_share_failure_lets_followers_boot(tmp_path):
    share = snapshare.SnapshotShare(str(tmp_path / "share"), wait_s=10)
    share.claim("a")
    calls = []
    share.publish("ready", [str(tmp_path / "nowhere")], {}, {}, lambda: calls.append("stop"),
                  lambda: calls.append("cont"))
    assert share.wait() is None and "vars.qcow2" in share.why
    assert calls == ["stop", "cont"]  # resumed even so
    share2 = snapshare.SnapshotShare(str(tmp_path / "s2"), wait_s=10)
    share2.claim("a")
    share2.give_up("the first shard could not start: no OVMF")
    assert share2.wait() is None and "no OVMF" in share2.why
    share3 = snapshare.SnapshotShare(str(tmp_path / "s3"), wait_s=0.2)
    share3.claim("a")
    assert share3.wait() is None and "within" in share3.why  # a leader that never says


class _Guests:
    def __init__(self):
        self.calls = []

    def loadvm(self, tag, nonce, n=None):
        self.calls.append(n)
        return 0.1


def test_restore_takes_other_guests_back_only_after_use():
    be = types.SimpleNamespace(nonce=0, others_used=False, guests=_Guests(), extra={"snapshot": {"loadvm_s": []}})
    one, two = types.SimpleNamespace(guests=1), types.SimpleNamespace(guests=2)

    def restore(sc):
        qemubackend.QemuBackend._restore(be, "ready", sc)
        if sc.guests > 1:  # begin() marks them used
            be.others_used = True
    for sc in (one, one, two, one, one):
        restore(sc)
    # guest 1 alone, all for the two-guest scenario and once after it, then guest 1 alone
    assert be.guests.calls == [1, 1, None, None, 1]
    assert be.nonce == 5


def test_jobs_two_boot_once(built, tmp_path):
    out = tmp_path / "o"
    r = fwnet("run", "--backend", "ovmf", "tcp-connect-ok", "tcp-echo-1", "udp-broadcast", "tcp-reset", "--jobs", "2",
              "--no-build", "--out", str(out), timeout=400)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    (b,) = json.load(open(out / "results.json"))["backends"]
    assert [c["name"] for c in b["scenarios"]] == ["tcp-connect-ok", "tcp-echo-1", "tcp-reset", "udp-broadcast"]
    assert all(c["verdict"] == "pass" for c in b["scenarios"])
    loads = [d for d in ("ovmf-0", "ovmf-1") if "-loadvm ready" in (out / d / "qemu.cmdline").read_text()]
    assert len(loads) == 1, "one shard boots, the other starts from its snapshot"
    # the follower's second guest too
    assert "-loadvm ready" in (out / loads[0] / "guest2" / "qemu.cmdline").read_text()
    assert not os.path.exists(out / "ovmf-share")  # the copies go after the run
