"""Firmware-level scenarios (fwscenario.py): parsing, and the await / silent /
none / count / inject logic on a synthetic capture that grows as a fake clock
advances (no QEMU)."""
import os
import struct
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from fwnet import fwscenario, scenario  # noqa: E402

pytest.importorskip("scapy")
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.inet import UDP  # noqa: E402
from scapy.packet import Raw  # noqa: E402

GUEST = "52:54:00:12:34:56"
NS = "52:55:0a:00:02:02"


def solicit(trid=0x123456):
    return bytes(Ether(src=GUEST, dst="33:33:00:01:00:02") / IPv6(src="fe80::5054:ff:fe12:3456", dst="ff02::1:2") /
                 UDP(sport=546, dport=547) / Raw(bytes([1]) + trid.to_bytes(3, "big") +
                                                 b"\x00\x01\x00\x0a\x00\x03\x00\x01" + bytes.fromhex("525400123456") +
                                                 b"\x00\x03\x00\x0c\x00\x00\x00\x07" + b"\x00" * 8))


def other_frame():
    return bytes(Ether(src=NS, dst="33:33:00:00:00:02") / IPv6(src="fe80::5055:aff:fe00:202", dst="ff02::2") /
                 UDP(sport=1, dport=2) / Raw(b"x"))


class Capture:
    """A pcap file written as the fake clock passes each frame's time."""

    def __init__(self, path, frames):
        self.path, self.frames, self.now = path, sorted(frames), 1000.0
        self.injected = []
        self._write()

    def _write(self):
        with open(self.path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xa1b23c4d, 2, 4, 0, 0, 65535, 1))
            for t, data in self.frames:
                if t <= self.now:
                    ns = int(round(t * 1e9))
                    f.write(struct.pack("<IIII", ns // 10 ** 9, ns % 10 ** 9, len(data), len(data)) + data)

    def clock(self):
        return self.now

    def sleep(self, s):
        self.now += s
        self._write()

    def inject(self, frame):
        self.injected.append((self.now, frame))


def steps(text):
    return fwscenario.parse_steps(text, "t.toml", 0)


def engine(cap, text):
    return fwscenario.Steps(steps(text), lambda: cap.path, cap.inject, clock=cap.clock, sleep=cap.sleep)


def test_parse_errors():
    with pytest.raises(ValueError, match="unknown firmware step"):
        steps("wait 3s")
    with pytest.raises(ValueError, match="duration"):
        steps('silent "" for soon')
    with pytest.raises(ValueError, match="since N"):
        steps('count "ip6" >=1 since 9')
    with pytest.raises(ValueError, match="template"):
        steps("inject no-such-template a=1")
    st = steps('await "ip6 and udp dst port 547" timeout=5s\ninject pxe6-advertise solicit={match} ia_len=4\n'
               'silent "" for 20s\ncount "udp" 0..2 since 1\nnone "udp dst port 69" for 1s')
    assert [s.op for s in st] == ["await", "inject", "silent", "count", "none"]
    assert st[0].args["timeout"] == 5 and st[2].args["seconds"] == 20 and st[3].args["since"] == 1


def test_await_matches_only_guest_frames_and_substitutes(tmp_path):
    cap = Capture(str(tmp_path / "c.pcap"), [(1001.0, other_frame()), (1003.0, solicit(0xabcdef))])
    e = engine(cap, 'await "ip6 and udp dst port 547" timeout=10s\ninject pxe6-advertise solicit={match} ia_len=4')
    status, _ = e.run()
    assert status == "ok", e.results
    assert abs(e.match_t - 1003.0) < 1e-6
    (t, frame), = cap.injected
    adv = Ether(frame)
    assert adv.dst == GUEST and bytes(adv[UDP].payload)[:4] == bytes.fromhex("02abcdef")
    assert b"\x00\x03\x00\x04\x00\x00\x00\x07" in bytes(adv[UDP].payload)  # IA_NA of 4 bytes: the IAID echoed


def test_await_times_out(tmp_path):
    cap = Capture(str(tmp_path / "c.pcap"), [(1001.0, other_frame())])
    e = engine(cap, 'await "ip6 and udp dst port 547" timeout=3s\nsilent "" for 5s')
    status, msg = e.run()
    assert status == "fail" and "within 3 s" in msg and len(e.results) == 1  # nothing runs after a failed await


def test_silent_detects_a_hang(tmp_path):
    # a Solicit, then nothing from the guest (the namespace still talks)
    cap = Capture(str(tmp_path / "c.pcap"), [(1001.0, solicit()), (1010.0, other_frame())])
    e = engine(cap, 'await "ip6 and udp dst port 547" timeout=5s\nsilent "" for 12s\ncount "udp" >=1')
    status, msg = e.run()
    assert status == "hang" and e.hang is not None and e.hang.kind == "hang"
    assert "no frame from 52:54:00:12:34:56" in e.hang.evidence
    assert e.problems and "hung" in e.problems[0]


def test_silent_passes_when_the_firmware_resends(tmp_path):
    cap = Capture(str(tmp_path / "c.pcap"), [(1001.0, solicit(1)), (1009.0, solicit(2))])
    e = engine(cap, 'await "ip6 and udp dst port 547" timeout=5s\nsilent "" for 20s\n'
                    'count "ip6 and udp dst port 547" >=1 since 2\ncount "ip6 and udp dst port 547" 5.. since 2')
    status, _ = e.run()
    assert status == "ok" and e.hang is None
    assert [r[1] for r in e.results] == ["ok", "ok", "ok", "fail"]
    assert len(e.problems) == 1 and "want 5.." in e.problems[0]


def test_none_fails_on_a_matching_frame(tmp_path):
    tftp = bytes(Ether(src=GUEST, dst=NS) / IPv6(src="fd00:0:0:2::150", dst="fd00:0:0:2::2") /
                 UDP(sport=1500, dport=69) / Raw(b"\x00\x01f\x00octet\x00"))
    cap = Capture(str(tmp_path / "c.pcap"), [(1001.0, solicit()), (1004.0, tftp)])
    e = engine(cap, 'await "ip6 and udp dst port 547" timeout=5s\nnone "udp dst port 69" for 10s')
    e.run()
    assert e.results[-1][1] == "fail" and "tftp" in e.results[-1][2].lower()


def test_firmware_scenarios_load():
    for p in sorted(os.listdir(os.path.join(HERE, "..", "..", "scenarios"))):
        if p.startswith("bug-") and p.endswith(".toml"):
            sc = scenario.Scenario(os.path.join(HERE, "..", "..", "scenarios", p))
            if fwscenario.is_firmware(sc):
                assert sc.fw_steps and "firmware-level" in sc.requires and sc.steps is sc.fw_steps
                assert any("IPv4PXESupport" in v for v in sc.fw_cfg)


def test_dstopt_frames_are_the_pixiefail_triggers():
    from fwnet import craft
    f = craft.build("ipv6-dstopt", src="fe80::5055:aff:fe00:202", opt_type="0x39", opt_len="0", nh="59")
    assert bytes(f)[54:56] == b"\x3b\x00" and bytes(f)[56:58] == b"\x39\x00"  # 45232: type 0x39, length 0
    sc = scenario.Scenario(os.path.join(HERE, "..", "..", "scenarios", "bug-ip6-destopt-padn-loop.toml"))
    inj = [s for s in sc.fw_steps if s.op == "inject"][0]
    f = craft.build(inj.args["template"], **inj.args["params"])
    assert bytes(f)[54:58] == b"\x3b\x1f\x01\xfe" and len(f) == 14 + 40 + 256  # 45233: PadN 254 in 256 bytes


def test_crashdet_reads_2022_11_asserts():
    """EDK2 2022.11's DebugLib prints ASSERTs without [Module]: the module is
    taken from the file's path (seen on debug-no-security-patches, CVE-2023-45230)."""
    from fwnet import crashdet
    line = ("ASSERT /work/main/build/deps/edk2-src/NetworkPkg/Dhcp6Dxe/Dhcp6Io.c(1172): "
            "Packet->Size > Packet->Length + 8\n")
    v = crashdet.classify("", "[Bds]Booting UEFI PXEv6\n" + line, None, 0.0)
    assert v.kind == "assert" and v.module == "Dhcp6Dxe" and v.file == "Dhcp6Io.c" and v.line == 1172
    assert v.summary().startswith("ASSERT [Dhcp6Dxe] Dhcp6Io.c(1172)")
