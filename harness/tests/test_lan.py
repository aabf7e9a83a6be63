"""--net lan: fwnet-netsim with a tap uplink into fwnet's namespace, dnsmasq,
per-scenario captures, the auto choice and its fallback, unique names, and
the namespace holding only what the run made. The end-to-end part needs no
QEMU: a fake guest speaks -netdev stream framing on netsim's LAN socket
(lan_e2e.py, run in a fresh namespace of its own)."""
import json
import socket
import time
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "harness"))
from fwnet import lannet, qemu, report  # noqa: E402

ROOTED = os.getuid() == 0
needs_root = pytest.mark.skipif(not ROOTED, reason="makes taps in a fresh network namespace (root)")
NETSIM = os.path.join(ROOT, "build", "release", "netsim", "fwnet-netsim")


def in_fresh_netns(code, timeout=120):
    """Python code in a child that moved into a fresh namespace first; its last stdout line as JSON."""
    pre = ("import sys, json; sys.path.insert(0, %r); from fwnet import isolation, lannet; "
           "mode, why = isolation.enter()\n" % os.path.join(ROOT, "harness"))
    r = subprocess.run(["/usr/bin/python3", "-c", pre + code], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def e2e(built):
    if not ROOTED:
        pytest.skip("root: taps in a fresh namespace")
    if not lannet.netsim_has_uplink(NETSIM):
        pytest.skip("fwnet-netsim without --uplink-tap (rebuild)")
    if not os.access(lannet.DNSMASQ, os.X_OK):
        pytest.skip("no dnsmasq (Debian package dnsmasq-base; ci/install-deps.sh)")
    r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "harness", "tests", "lan_e2e.py")],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout.strip().splitlines()[-1])
    assert d["isolation"] == "netns"
    assert d.get("tap"), d.get("probe")
    return d


def test_dhcp_from_dnsmasq_reaches_the_guest(e2e):
    assert e2e["dhcp"] == {"yiaddr": "10.0.2.15", "router": ["10.0.2.2"], "dns": ["10.0.2.3"], "type": 2}


def test_real_tcp_resets(e2e):
    assert e2e["rst"], "SYN to a closed port: the namespace's kernel answers RST"
    assert e2e["linger_rst"], "a Linux socket closed with SO_LINGER 0: its RST reaches the guest"
    assert e2e["far_rst"], "an off-subnet address (10.1.0.2, via the gateway) answers too"


def test_real_udp_unicast_and_broadcast(e2e):
    assert e2e["udp_in"] == ["hello", "10.0.2.15"]
    assert e2e["udp_back"]
    assert e2e["udp_broadcast"]


def test_icmp_unreachable(e2e):
    assert e2e["icmp_unreachable"] == 1  # the `unreachable` route: host unreachable
    assert e2e["icmp_no_route"] == 0     # no route at all (the blackhole peer's address): net unreachable


def test_dns_from_the_zone_udp_and_tcp(e2e):
    assert e2e["dns_udp"] == "10.0.2.100"  # netsim's zone on 10.0.2.3:53/udp, never the tap
    assert e2e["dns_tcp_synack"]           # 10.0.2.3:53/tcp is the harness's listener, reachable from the LAN
    assert e2e["dns_tcp"] == "10.0.2.100"  # ... answering from the same zone (`dns answer`)


def test_ipv6_router_advertisement(e2e):
    assert e2e["ra_prefix"] == "fd00:0:0:2::"


def test_injected_frames_stay_on_the_lan(e2e):
    assert e2e["inject"] == "ok 49" and e2e["injected_seen"]
    assert e2e["inject_tap_in_delta"] == 0, "a frame injected from the uplink must never be written to the tap"


def test_capture_rotation(e2e):
    rc_a, ports_a = e2e["cap_a"]
    rc_b, ports_b = e2e["cap_b"]
    assert rc_a == 0 and rc_b == 0  # tcpdump -r reads both
    assert ports_a == ["6001"]      # only what crossed while it was current
    assert ports_b == ["6002", "6003"]


def test_namespace_holds_only_the_runs_interfaces(e2e):
    assert e2e["ifs_before"] == ["lo"]
    assert e2e["ifs_up"] == sorted(["lo", e2e["tap"]])
    assert e2e["ifs_after"] == ["lo"], "everything removed again"
    assert not any("10.99" in r or "10.0.2" in r for r in e2e["routes_after"])
    assert "10.1.0.2" not in e2e["lo_addrs_after"]


@needs_root
def test_half_configured_lan_is_undone():
    # the 5th `ip` command fails: what was done before is undone, the error says so
    d = in_fresh_netns(r'''
from fwnet.backend import BackendError
real, n = lannet._ip, [0]
def failing(*a, **k):
    n[0] += 1
    if n[0] == 5:
        raise BackendError("ip %s: simulated failure" % " ".join(a))
    return real(*a, **k)
lannet._ip = failing
try:
    lannet.Lan("/tmp").up()
    err = None
except BackendError as e:
    err = str(e)
print(json.dumps({"err": err, "ifs": isolation.interfaces()}))
''')
    assert "simulated failure" in d["err"] and "nothing left configured" in d["err"]
    assert d["ifs"] == ["lo"]


@needs_root
def test_names_unique_per_instance_and_shard(built):
    names = {lannet.unique_name() for _ in range(200)}
    assert len(names) == 200 and all(len(n) <= 15 for n in names)
    # two --jobs shards: each thread its own namespace, the same addresses, no clash
    d = in_fresh_netns(r'''
import threading
out = {}
def shard(k):
    isolation.enter_thread_netns()
    lan = lannet.Lan("/tmp").up()
    out[k] = {"tap": lan.tap, "ifs": isolation.interfaces()}
    lan.down()
    out[k]["after"] = isolation.interfaces()
ts = [threading.Thread(target=shard, args=(k,)) for k in range(2)]
[t.start() for t in ts]
[t.join() for t in ts]
out["main"] = isolation.interfaces()
print(json.dumps(out))
''')
    assert d["0"]["tap"] != d["1"]["tap"]
    for k in ("0", "1"):
        assert d[k]["ifs"] == sorted(["lo", d[k]["tap"]]), "a shard sees only its own tap"
        assert d[k]["after"] == ["lo"]
    assert d["main"] == ["lo"], "the shards' taps never appear in fwnet's own namespace"


def test_lan_qemu_cmdline_has_no_user_netdev(tmp_path):
    boot = qemu.Boot(["-machine", "q35"], [], 256, False)
    cmd = qemu.make_cmdline(boot, "tcg", "virtio", [], [], str(tmp_path / "c.pcap"), str(tmp_path / "s.sock"),
                            lan_sock=str(tmp_path / "lan.sock"))
    nets = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-netdev"]
    assert nets == ["stream,id=n0,server=off,addr.type=unix,addr.path=%s" % (tmp_path / "lan.sock")]
    assert not any(v.startswith("user") and "restrict=on" not in v for v in nets)


def test_dnsmasq_binds_only_the_tap(tmp_path):
    lan = lannet.Lan(str(tmp_path))
    started = {}

    class P:  # stands in for qemu.Qemu (a process group stopped on every exit path)
        def __init__(self, cmd, run_dir, name="qemu"):
            started["cmd"], started["name"] = cmd, name
            open(os.path.join(run_dir, "dnsmasq.pid"), "w").write("1\n")

        def alive(self):
            return True

        def stop(self, grace=0):
            started["stopped"] = True
    real = lannet.qemu.Qemu
    lannet.qemu.Qemu = P
    try:
        lan.dhcp_up()
        lan.dhcp_down()
    finally:
        lannet.qemu.Qemu = real
    assert started["name"] == "dnsmasq" and started["stopped"]
    cmd = started["cmd"]
    assert "--port=0" in cmd and "--bind-interfaces" in cmd and "--interface=" + lan.tap in cmd
    assert "--conf-file=/dev/null" in cmd and "--no-resolv" in cmd and "--except-interface=lo" in cmd
    assert "--dhcp-host=52:54:00:12:34:56,10.0.2.15" in cmd and "--dhcp-host=52:54:00:12:34:57,10.0.2.16" in cmd
    assert "--dhcp-option=option:router,10.0.2.2" in cmd and "--dhcp-option=option:dns-server,10.0.2.3" in cmd
    assert "--enable-ra" in cmd


def test_auto_falls_back_without_tap_rights(monkeypatch):
    # `ip tuntap add` refused: slirp, with the reason; nothing to undo
    calls = []

    class R:
        returncode, stdout, stderr = 1, "", "ioctl(TUNSETIFF): Operation not permitted"

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return R()
    monkeypatch.setattr(lannet.subprocess, "run", fake_run)
    monkeypatch.setattr(lannet, "_probe", {})
    monkeypatch.setattr(lannet.os, "access", lambda p, m: True)
    monkeypatch.setattr(lannet, "netsim_has_uplink", lambda exe=None: True)
    monkeypatch.setattr(lannet.os.path, "exists", lambda p: True)
    net, why = lannet.choose("auto", "netns")
    assert net == "slirp"
    assert "Operation not permitted" in why and why.startswith("slirp: cannot create a tap")
    assert [c[:3] for c in calls] == [["ip", "tuntap", "add"]], "no `ip link del` of a tap never made"
    assert lannet.choose("auto", "restrict-only")[0] == "slirp"
    assert lannet.choose("netsim", "netns") == ("netsim", "--net netsim given")


def test_reports_say_which_network_and_why(tmp_path):
    run = {"started": "x", "isolation": "netns", "net": "slirp",
           "net_why": "slirp: cannot create a tap in fwnet's namespace (...)",
           "backends": [{"backend": "ovmf", "net": "slirp", "net_why": "slirp: cannot create a tap in fwnet's namespace (...)",
                         "scenarios": [{"name": "a", "verdict": "pass", "seconds": 1,
                                        "capture": "/x/captures/a.pcap"}]}]}
    text = report.summary(run)
    assert text.splitlines()[0] == "network: slirp (slirp: cannot create a tap in fwnet's namespace (...))"
    report.write_junit(str(tmp_path / "j.xml"), run)
    t = ET.parse(str(tmp_path / "j.xml")).getroot()
    props = {p.get("name"): p.get("value") for p in t.find("testsuite/properties")}
    assert props["net_why"].startswith("slirp: cannot create a tap")
    tc = t.find("testsuite/testcase")
    assert tc.find("properties/property").get("value") == "/x/captures/a.pcap"
    assert "[[ATTACHMENT|/x/captures/a.pcap]]" in tc.find("system-out").text


@pytest.mark.skipif(not ROOTED, reason="drops to an unprivileged user (needs root to do so)")
def test_unprivileged_run_falls_back_to_slirp(built):
    """A real run without tap rights: an unprivileged user (fwnet's own user
    namespace; /dev/net/tun not accessible on this machine, or CAP_NET_ADMIN
    missing) says so and runs on slirp, with the reason in every report."""
    if os.stat("/dev/net/tun").st_mode & 0o006 == 0o006:
        pytest.skip("/dev/net/tun is open to every user here: the rootless lan applies instead")
    import tempfile
    # the unprivileged user must reach the checkout: its parents must let
    # others through; the checkout itself (a `mktemp -d` clone is 0700) is
    # opened to them for the test and restored after
    parent = os.path.dirname(ROOT)
    while parent != "/":
        if not os.stat(parent).st_mode & 0o001:
            pytest.skip("%s is closed to other users: an unprivileged run cannot reach the checkout" % parent)
        parent = os.path.dirname(parent)
    mode = os.stat(ROOT).st_mode & 0o7777
    os.chmod(ROOT, mode | 0o005)
    base = tempfile.mkdtemp(prefix="fwnet-lan-nobody-", dir="/tmp")
    os.chmod(base, 0o777)
    out = os.path.join(base, "run")
    try:
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3",
                            os.path.join(ROOT, "harness", "fwnet.py"), "run", "--backend", "ovmf",
                            "--no-build", "--out", out, "udp-echo"],
                           capture_output=True, text=True, timeout=300, cwd="/tmp")
    finally:
        os.chmod(ROOT, mode)
    assert "fwnet: network slirp (slirp: " in r.stdout, r.stdout + r.stderr
    res = json.load(open(os.path.join(out, "results.json")))
    assert res["net"] == "slirp" and res["net_why"].startswith("slirp: ")
    ovmf = [b for b in res["backends"] if b["backend"] == "ovmf"][0]
    assert ovmf["scenarios"][0]["verdict"] == "skip"  # udp needs the lan: listed as a skip with the reason
    assert open(os.path.join(out, "summary.txt")).read().startswith("network: slirp (slirp: ")
    subprocess.run(["rm", "-rf", base])


@pytest.mark.skipif(not ROOTED or not os.path.exists("/usr/share/OVMF/OVMF_CODE_4M.fd"),
                    reason="the default lan needs root here, and OVMF")
def test_ovmf_on_the_default_lan(built, tmp_path):
    """`fwnet run` without --net: lan, said in every report; a real RST and
    UDP pass against the Linux golden with no deviation; DHCP from dnsmasq; a
    capture per scenario that tcpdump reads; QEMU on netsim's unix socket
    only; the namespace held only lo and the run's tap; nothing left behind."""
    from conftest import fwnet, qemu_processes
    out = str(tmp_path / "run")
    r = fwnet("run", "tcp-reset", "udp-echo", "net-dhcp", "tcp-connect-unreachable", "--backend", "ovmf",
              "--no-build", "--out", out, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "fwnet: network lan (lan: tap allowed in fwnet's namespace" in r.stdout
    res = json.load(open(os.path.join(out, "results.json")))
    assert res["net"] == "lan" and res["net_why"].startswith("lan: ")
    b = res["backends"][0]
    assert b["net"].startswith("lan") and b["net_why"] == res["net_why"]
    v = {c["name"]: c for c in b["scenarios"]}
    assert all(c["verdict"] == "pass" for c in v.values()), v
    assert not v["tcp-reset"]["deviations"]  # the peer's real RST, not slirp's FIN
    lan = b["extra"]["lan"]
    assert lan["interfaces"] == sorted(["lo", lan["tap"]])
    for c in v.values():
        assert c["capture"] == os.path.join(out, "ovmf", "captures", c["name"] + ".pcap")
        t = subprocess.run(["tcpdump", "-nn", "-r", c["capture"]], capture_output=True, text=True)
        assert t.returncode == 0
        assert c["timing"]["t0_wall"] <= c["timing"]["steps"][0]["t_wall"]
    dump = subprocess.run(["tcpdump", "-nn", "-r", v["tcp-reset"]["capture"]], capture_output=True, text=True).stdout
    assert "Flags [R" in dump  # the peer's RST, on the wire
    assert "10.98.0.1" not in dump and "10.98.0.1" in subprocess.run(
        ["tcpdump", "-nn", "-r", v["tcp-connect-unreachable"]["capture"]], capture_output=True, text=True).stdout
    dh = subprocess.run(["tcpdump", "-nn", "-r", v["net-dhcp"]["capture"], "udp port 67"],
                        capture_output=True, text=True).stdout
    assert "10.0.2.2.67 > " in dh  # dnsmasq answered through the hub
    cmd = open(os.path.join(out, "ovmf", "qemu.cmdline")).read()
    assert "-netdev stream,id=n0,server=off,addr.type=unix" in cmd and "-netdev user" not in cmd
    assert "--interface=%s" % lan["tap"] in open(os.path.join(out, "ovmf", "dnsmasq.cmdline")).read()
    assert "[[ATTACHMENT|" in open(os.path.join(out, "junit.xml")).read()
    assert open(os.path.join(out, "summary.txt")).read().startswith("network: lan (lan: ")
    assert not qemu_processes(out)


def test_dns_tcp_listener_released_on_stop():
    """fwnet bugs brings one LAN up after another in one process: the TCP/53
    listener of the last must be gone when stop() returns (it was held by
    its accept thread's poll, and the next bind failed with EADDRINUSE)."""
    from fwnet import lannet
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    addr = s.getsockname()
    s.close()
    for _ in range(5):
        d = lannet.DnsTcp(lambda line: "ok ", addr=addr)
        time.sleep(0.05)  # the accept thread is inside its poll()
        d.stop()
