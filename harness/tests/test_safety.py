"""Network safety: how QEMU is started, and where the harness runs."""
import os
import subprocess
import sys

import pytest
from conftest import ROOT
from fwnet import qemu

FW = {"code": "/usr/share/OVMF/OVMF_CODE_4M.fd", "vars": "/usr/share/OVMF/OVMF_VARS_4M.fd"}


def test_cmdline_is_restricted(tmp_path):
    cmd = qemu.make_cmdline(qemu.ovmf_boot(FW, os.path.join(str(tmp_path), "vars.fd"), "disk.img"), "tcg", "virtio",
                            [(7, 40000), (8, 40001)], [(41000, 8080)], "c.pcap", "s.sock")
    netdevs = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-netdev"]
    assert len(netdevs) == 1
    nd = netdevs[0].split(",")
    assert nd[0] == "user" and "restrict=on" in nd
    assert "hostfwd=tcp:127.0.0.1:41000-10.0.2.15:8080" in nd
    for g in [x for x in nd if x.startswith("guestfwd=")]:
        assert " 127.0.0.1 " in g
    assert any(a.startswith("filter-dump") for a in cmd)  # a pcap for every run
    assert "-nic" not in cmd and "-net" not in cmd


@pytest.mark.parametrize("netdev", [
    "user,id=n0",
    "user,id=n0,restrict=off",
    "user,id=n0,restrict=on,hostfwd=tcp:0.0.0.0:80-:80",
    "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:7-cmd:/usr/bin/python3 relay.py 8.8.8.8 53",
    "tap,id=t0",
])
def test_unsafe_cmdlines_refused(netdev):
    with pytest.raises(qemu.QemuError):
        qemu.check_cmdline(["qemu-system-x86_64", "-netdev", netdev])


def test_relay_only_to_loopback():
    r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "harness", "fwnet", "relay.py"), "10.0.0.1", "80"],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=10)
    assert r.returncode != 0 and "only 127.0.0.1" in r.stderr


def test_namespace_has_only_loopback():
    code = ("import sys; sys.path.insert(0, %r); from fwnet import isolation; "
            "m, w = isolation.enter(); print(m, isolation.interfaces())" % os.path.join(ROOT, "harness"))
    env = dict(os.environ)
    env.pop("FWNET_IN_NETNS", None)
    r = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    mode, _, ifs = r.stdout.strip().partition(" ")
    if mode != "netns":
        pytest.skip("no network namespace here: " + r.stdout)
    assert ifs == "['lo']"
