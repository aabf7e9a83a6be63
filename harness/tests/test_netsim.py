"""fwnet-netsim: its control channel on its own, and OVMF through it with
faults that show in the counters and the capture."""
import json
import os
import socket
import subprocess
import time

import pytest
from conftest import ROOT, fwnet, qemu_processes

EXE = os.path.join(ROOT, "build", "release", "netsim", "fwnet-netsim")


def ctl(path, line):
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    c.sendall(line.encode() + b"\n")
    r = c.recv(65536).decode().strip()
    c.close()
    return r


def test_control_channel(built, tmp_path):
    lan, cs = str(tmp_path / "lan.sock"), str(tmp_path / "ctl.sock")
    p = subprocess.Popen([EXE, "--lan", lan, "--control", cs, "--pcap", str(tmp_path / "x.pcap"), "--seed", "7"],
                         stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            if os.path.exists(cs):
                break
            time.sleep(0.02)
        assert ctl(cs, "impair link=0 dir=to-guest delay=20ms loss=1%") == "ok"
        assert ctl(cs, "impair link=0 loss=2") == "err bad impairment 'loss=2'"
        assert ctl(cs, "rule drop proto=udp port=53") == "ok"
        assert ctl(cs, "rule explode").startswith("err unknown rule action 'explode'")
        assert ctl(cs, "rule clear") == "ok"
        assert ctl(cs, "counters").startswith("ok slirp_in=0 slirp_out=0")
        assert ctl(cs, "teleport").startswith("err unknown command")
        assert ctl(cs, "stop") == "ok"
        assert p.wait(timeout=5) == 0
    finally:
        if p.poll() is None:
            p.kill()
    with open(tmp_path / "x.pcap", "rb") as f:
        assert f.read(4) == b"\x4d\x3c\xb2\xa1"  # pcap, nanosecond timestamps
    assert not os.path.exists(lan)  # cleaned up


def test_bad_arguments_are_clear(built):
    r = subprocess.run([EXE, "--frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2 and "bad argument '--frobnicate'" in r.stderr


@pytest.mark.skipif(not os.path.exists("/usr/share/OVMF/OVMF_CODE_4M.fd"), reason="no OVMF")
def test_ovmf_through_netsim_with_faults(built, tmp_path):
    out = tmp_path / "run"
    r = fwnet("run", "netsim-synack-lost", "tcp-echo-1k", "--net", "netsim", "--seed", "3", "--no-build",
              "--out", str(out), timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    res = json.load(open(out / "results.json"))
    b = res["backends"][0]
    assert b["net"] == "netsim seed=3"
    counters = b["extra"]["netsim_counters"]
    assert "dropped:1," in counters["netsim-synack-lost"].split("g0.to=")[1]  # the SYN-ACK
    assert "dropped:0," in counters["tcp-echo-1k"].split("g0.to=")[1]         # rules cleared
    pcap = out / "ovmf" / "netsim.pcap"
    syns = subprocess.run(["tcpdump", "-nr", str(pcap), "tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack == 0"],
                          capture_output=True, text=True).stdout.splitlines()
    assert len(syns) >= 3  # the retransmitted SYN is in the capture, then the second connection
    assert not qemu_processes(out)


@pytest.mark.skipif(not os.path.exists("/usr/share/OVMF/OVMF_CODE_4M.fd"), reason="no OVMF")
def test_link_flap_and_dhcp_faults_on_ovmf(built, tmp_path):
    out = tmp_path / "run"
    r = fwnet("run", "netsim-link-flap", "netsim-dhcp-absent", "netsim-reorder-dup", "netsim-two-guests",
              "netsim-dns-builtin-truncated", "--net", "netsim",
              "--no-build", "--out", str(out), timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    res = json.load(open(out / "results.json"))["backends"][0]
    counters = res["extra"]["netsim_counters"]
    # The flap fell in the middle of the download: frames were offered while
    # the link was down and dropped. Which direction loses them is timing:
    # the guest is the bottleneck, so slirp often sits on a full window with
    # nothing in flight (nothing to drop towards the guest) while the guest's
    # window updates are lost; CI once saw 0 towards the guest, 22 from it.
    down = counters["netsim-link-flap"]
    dropped = {d: int(down.split("g0.%s=" % d)[1].split("dropped:")[1].split(",")[0]) for d in ("to", "from")}
    assert dropped["to"] + dropped["from"] > 0, down
    # and the stream could not finish before the link came back (2.3 s after the steps ran)
    flap = next(s for s in res["scenarios"] if s["name"] == "netsim-link-flap")
    recv = next(st for st in flap["steps"] if st["line"].startswith("bulkrecv"))
    assert recv["ms"] > 1900, recv
    rd = counters["netsim-reorder-dup"].split("g0.to=")[1]
    assert int(rd.split("reordered:")[1].split(",")[0]) > 0 and int(rd.split("dup:")[1].split(",")[0]) > 0
    # a truncated UDP answer, then the resolver's retry over TCP, answered by netsim
    dns_tcp = subprocess.run(["tcpdump", "-nr", str(out / "ovmf" / "netsim.pcap"), "tcp port 53 and tcp[13] & 8 != 0"],
                             capture_output=True, text=True).stdout.splitlines()
    assert any("10.0.2.3.53 >" in l for l in dns_tcp), dns_tcp  # the answer came back over TCP
    assert not qemu_processes(out)


@pytest.mark.skipif(not os.path.exists("/usr/share/OVMF/OVMF_CODE_4M.fd"), reason="no OVMF")
def test_netsim_compare_benchmark_runs(built, tmp_path):
    r = fwnet("bench", "--netsim-compare", "--size", "2", "--no-build", "--out", str(tmp_path / "b"), timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    res = json.load(open(tmp_path / "b" / "netsim-compare.json"))
    assert set(res["nets"]) == {"slirp", "netsim"}
    assert res["ratios"]["rx"] > 0 and res["ratios"]["tx"] > 0
    assert "netsim/slirp: rx" in r.stdout


@pytest.mark.skipif(os.getuid() != 0 or not os.path.exists("/usr/share/OVMF/OVMF_CODE_4M.fd"),
                    reason="--net tap needs root and OVMF")
def test_tap_network(built, tmp_path):
    out = tmp_path / "t"
    r = fwnet("run", "tcp-reset", "udp-echo", "net-dhcp", "--net", "tap", "--no-build", "--out", str(out), timeout=600)
    assert r.returncode == 0, r.stdout[-2000:]
    b = json.load(open(out / "results.json"))["backends"][0]
    v = {c["name"]: c for c in b["scenarios"]}
    assert v["tcp-reset"]["verdict"] == "pass" and not v["tcp-reset"]["deviations"]  # a real RST
    assert v["udp-echo"]["verdict"] == "pass"
    assert v["net-dhcp"]["verdict"] == "skip" and "DHCP" in v["net-dhcp"]["why"]
    # the tap's capture holds the scenarios' own frames: the peer's RST and the UDP echo
    from fwnet import wire
    frames = [p.data for p in wire.read_pcap(str(out / "ovmf" / "tap.pcap"))]
    tcp4 = [f for f in frames if f[12:14] == b"\x08\x00" and f[23] == 6]
    udp4 = [f for f in frames if f[12:14] == b"\x08\x00" and f[23] == 17]
    assert any(f[14 + (f[14] & 15) * 4 + 13] & 0x04 for f in tcp4), "no TCP RST in tap.pcap"
    assert len(udp4) >= 2, "no UDP echo in tap.pcap"
    assert not qemu_processes(out)


def _frame_io(lan):
    s = socket.socket(socket.AF_UNIX)
    s.connect(lan)
    s.settimeout(2)

    def send(f):
        s.sendall(len(f).to_bytes(4, "big") + f)

    def recv_all(secs):
        out, buf, end = [], b"", time.monotonic() + secs
        while time.monotonic() < end:
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            if not d:
                break
            buf += d
            while len(buf) >= 4 and len(buf) >= 4 + int.from_bytes(buf[:4], "big"):
                n = int.from_bytes(buf[:4], "big")
                out.append(buf[4:4 + n])
                buf = buf[4 + n:]
        return out
    return s, send, recv_all


def _csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(int.from_bytes(b[i:i + 2], "big") for i in range(0, len(b), 2))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def test_frame_path(built, tmp_path):
    """A guest's frames through netsim without QEMU: ARP to slirp, a DNS query
    answered from the zone (checksums right), and loss that silences the link."""
    import struct
    lan, cs = str(tmp_path / "lan.sock"), str(tmp_path / "ctl.sock")
    p = subprocess.Popen([EXE, "--lan", lan, "--control", cs, "--pcap", str(tmp_path / "f.pcap")],
                         stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(cs):
                break
            time.sleep(0.02)
        mac = bytes.fromhex("525400123456")
        s, send, recv_all = _frame_io(lan)
        arp = b"\xff" * 6 + mac + b"\x08\x06" + bytes.fromhex("0001080006040001") + mac + bytes([10, 0, 2, 15]) \
            + b"\0" * 6 + bytes([10, 0, 2, 2])
        send(arp)
        frames = recv_all(1)
        replies = [f for f in frames if f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02"]
        assert replies and replies[0][6:12] == bytes.fromhex("52550a000202")  # slirp's MAC
        assert ctl(cs, "dns add peer.test 10.0.2.100") == "ok"
        q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + b"\x04peer\x04test\x00" + b"\x00\x01\x00\x01"
        udp = struct.pack(">HHHH", 40000, 53, 8 + len(q), 0) + q
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, bytes([10, 0, 2, 15]), bytes([10, 0, 2, 3]))
        ip = ip[:10] + (0xffff - _csum(ip)).to_bytes(2, "big") + ip[12:]
        send(bytes.fromhex("52550a000203") + mac + b"\x08\x00" + ip + udp)
        ans = [f for f in recv_all(1) if f[12:14] == b"\x08\x00" and f[23] == 17]
        assert ans, "no DNS answer"
        a = ans[0]
        assert a[26:30] == bytes([10, 0, 2, 3]) and a[34:36] == (53).to_bytes(2, "big")
        assert _csum(a[14:34]) == 0xffff  # IP header checksum
        pseudo = a[26:34] + b"\0\x11" + a[38:40]
        assert _csum(pseudo + a[34:]) == 0xffff  # UDP checksum
        dns = a[42:]
        assert dns[:2] == b"\x42\x42" and dns[-4:] == bytes([10, 0, 2, 100])
        assert "dns_answered=1" in ctl(cs, "counters")
        assert ctl(cs, "impair link=0 dir=to-guest loss=100%") == "ok"
        send(arp)
        assert not [f for f in recv_all(1) if f[12:14] == b"\x08\x06"]  # all lost
        c = ctl(cs, "counters")
        assert "dropped:1," in c.split("g0.to=")[1] or "dropped:2," in c.split("g0.to=")[1]
        s.close()
        assert ctl(cs, "stop") == "ok"
        assert p.wait(timeout=5) == 0
    finally:
        if p.poll() is None:
            p.kill()
    out = subprocess.run(["tcpdump", "-nr", str(tmp_path / "f.pcap")], capture_output=True, text=True).stdout
    assert "peer.test" in out and "ARP" in out  # the capture holds what crossed
