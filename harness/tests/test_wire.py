"""Wire assertions (fwnet.wire) on synthetic captures written with scapy."""
import secrets
import struct
import subprocess
import time
from decimal import Decimal

import pytest

scapy_all = pytest.importorskip("scapy.all")
from scapy.all import DNS, DNSQR, IP, TCP, UDP, Ether, wrpcap  # noqa: E402
from scapy.utils import PcapNgWriter, PcapWriter  # noqa: E402

from fwnet import wire  # noqa: E402
from fwnet.wire import WireError, WireFailure  # noqa: E402

T0 = 1700000000.0
GUEST, GW = "10.0.2.15", "10.0.2.2"


def syn(i, seq, t, src=GUEST):
    p = Ether() / IP(src=src, dst=GW) / TCP(sport=40000 + i, dport=80, flags="S", seq=seq)
    p.time = t
    return p


def lcg16(x, n):
    out = []
    for _ in range(n):
        x = (25173 * x + 13849) % 65536
        out.append(x)
    return out


@pytest.fixture(scope="module")
def caps(tmp_path_factory):
    d = tmp_path_factory.mktemp("wire")
    c = {}
    # 30 SYNs from the guest every 0.5 s with ISN += 64000, plus 2 SYNs from elsewhere
    pk = [syn(i, 1000 + 64000 * i, T0 + 0.5 * i) for i in range(30)]
    pk += [syn(90, 7, T0 + 2.25, src="10.0.2.3"), syn(91, 8, T0 + 2.75, src="10.0.2.3")]
    pk.sort(key=lambda p: p.time)
    c["stride"] = str(d / "stride.pcap")
    wrpcap(c["stride"], pk)
    c["random"] = str(d / "random.pcap")
    wrpcap(c["random"], [syn(i, secrets.randbits(32), T0 + 0.1 * i) for i in range(40)])
    dns = []
    for i, qid in enumerate(lcg16(1, 40)):
        p = Ether() / IP(src=GUEST, dst="10.0.2.3") / UDP(sport=50000 + i, dport=53) / DNS(id=qid, qd=DNSQR(qname="a.example"))
        p.time = T0 + 0.05 * i
        dns.append(p)
    c["dns_lcg"] = str(d / "dns_lcg.pcap")
    wrpcap(c["dns_lcg"], dns)
    dns = []
    for i in range(40):
        p = Ether() / IP(src=GUEST, dst="10.0.2.3") / UDP(sport=50000 + i, dport=53) / DNS(
            id=secrets.randbits(16), qd=DNSQR(qname="a.example"))
        p.time = T0 + 0.05 * i
        dns.append(p)
    c["dns_rand"] = str(d / "dns_rand.pcap")
    wrpcap(c["dns_rand"], dns)
    c["dir"] = d
    return c


# ---------------------------------------------------------------- pcap slicing

def _write(path, pkts, **kw):
    w = PcapWriter(path, **kw)
    for p in pkts:
        w.write(p)
    w.close()


def _tcpdump_count(path):
    r = subprocess.run(["tcpdump", "-nn", "-r", "-"], stdin=open(path, "rb"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return len(r.stdout.splitlines())


@pytest.mark.parametrize("endianness,nano", [("<", False), (">", False), ("<", True), (">", True)])
def test_slice_classic_boundaries(tmp_path, endianness, nano):
    pk = [syn(i, i, Decimal(T0) + Decimal(i) / 2) for i in range(10)]  # T0, T0+0.5, ... T0+4.5
    src, dst = str(tmp_path / "in.pcap"), str(tmp_path / "out.pcap")
    _write(src, pk, endianness=endianness, nano=nano)
    n = wire.slice_pcap(src, dst, T0 + 1.0, T0 + 2.5)  # both boundary packets included
    assert n == 4
    got = wire.read_pcap(dst)
    assert [p.ts_ns for p in got] == [wire.to_ns(T0) + k * 500_000_000 for k in (2, 3, 4, 5)]
    with open(src, "rb") as a, open(dst, "rb") as b:
        assert a.read(24) == b.read(24)  # byte order, resolution, link type kept
    assert _tcpdump_count(dst) == 4
    assert [p.data for p in got] == [bytes(p) for p in pk[2:6]]


def test_slice_nanosecond_boundary(tmp_path):
    base = Decimal("1700000000")
    pk = [syn(0, 0, base + Decimal("0.999999999")), syn(1, 1, base + Decimal(1)),
          syn(2, 2, base + Decimal("2.000000000")), syn(3, 3, base + Decimal("2.000000001"))]
    src, dst = str(tmp_path / "n.pcap"), str(tmp_path / "o.pcap")
    # written by hand: scapy 2.5 rounds the seconds of 0.999999999 up
    with open(src, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
        for p in pk:
            b, sec, frac = bytes(p), int(p.time), int((p.time - int(p.time)) * 10 ** 9)
            f.write(struct.pack("<IIII", sec, frac, len(b), len(b)) + b)
    assert wire.slice_pcap(src, dst, 1700000001.0, "1700000002") == 2
    assert [p.data for p in wire.read_pcap(dst)] == [bytes(pk[1]), bytes(pk[2])]
    assert wire.slice_pcap(src, dst, None, None) == 4
    assert wire.slice_pcap(src, dst, T0 + 10, None) == 0
    assert _tcpdump_count(dst) == 0


def test_slice_pcapng(tmp_path):
    pk = [syn(i, i, T0 + i) for i in range(6)]
    src, dst = str(tmp_path / "in.pcapng"), str(tmp_path / "out.pcapng")
    w = PcapNgWriter(src)
    for p in pk:
        w.write(p)
    w.close()
    assert len(wire.read_pcap(src)) == 6
    assert wire.slice_pcap(src, dst, T0 + 1, T0 + 3) == 3
    got = wire.read_pcap(dst)
    assert [p.data for p in got] == [bytes(p) for p in pk[1:4]]
    assert [p.ts_ns // 10 ** 9 for p in got] == [int(T0) + 1, int(T0) + 2, int(T0) + 3]
    assert _tcpdump_count(dst) == 3


def test_truncated_last_record_is_ignored(tmp_path, caps):
    data = open(caps["random"], "rb").read()
    p = tmp_path / "cut.pcap"
    p.write_bytes(data[:-10])
    assert len(wire.read_pcap(str(p))) == 39


def test_not_a_pcap(tmp_path):
    p = tmp_path / "x.pcap"
    p.write_bytes(b"hello world, not a capture file")
    with pytest.raises(WireError, match="not a pcap"):
        wire.read_pcap(str(p))


# ---------------------------------------------------------------- filters and fields

def test_compile_check_bpf():
    assert wire.compile_check("bpf", "tcp[tcpflags] & tcp-syn != 0 and src host 10.0.2.15") == "bpf"
    with pytest.raises(WireError) as e:
        wire.compile_check("tcpdump", "tcp[tcpflags] & & bogus")
    assert "syntax error" in str(e.value) and "bogus" in str(e.value)


def test_compile_check_tshark():
    assert wire.compile_check("tshark", "tcp.flags.syn==1 && tcp.flags.ack==0") == "tshark"
    with pytest.raises(WireError) as e:
        wire.compile_check("tshark", "tcp.flags.syn==1 &&")
    assert "tshark" in str(e.value) and "Unexpected end" in str(e.value)
    with pytest.raises(WireError, match="tcp.nosuch"):
        wire.compile_check("tshark", "tcp.nosuch == 1")
    with pytest.raises(WireError, match="language"):
        wire.compile_check("pcre", "x")


@pytest.mark.parametrize("name,ftype", [("tcp.seq_raw", "FT_UINT32"), ("tcp.srcport", "FT_UINT16"),
                                        ("udp.srcport", "FT_UINT16"), ("dns.id", "FT_UINT16"),
                                        ("dhcp.id", "FT_UINT32"), ("ip.id", "FT_UINT16"),
                                        ("ipv6.opt.type", "FT_UINT8"), ("frame.time_epoch", None)])
def test_field_names_verified(name, ftype):
    t = wire.check_field(name)
    if ftype:
        assert t == ftype


def test_unknown_field_named_and_list_cached():
    wire.tshark_fields()
    t = time.monotonic()
    with pytest.raises(WireError) as e:
        wire.check_field("nonexistent.field")
    assert "nonexistent.field" in str(e.value)
    with pytest.raises(WireError, match="tcp.seq_raww.*did you mean.*tcp.seq_raw"):
        wire.check_field("tcp.seq_raww")
    with pytest.raises(WireError, match="bootp.id"):
        wire.check_field("bootp.id")  # tshark 4 calls it dhcp.id
    assert time.monotonic() - t < 2.0
    assert wire.tshark_fields.cache_info().hits >= 2


# ---------------------------------------------------------------- counts and time

@pytest.mark.parametrize("text,inside,outside", [
    ("0", [0], [1]), ("1..3", [1, 2, 3], [0, 4]), (">=1", [1, 99], [0]), (">2", [3], [2]),
    ("<=2", [0, 2], [3]), ("<2", [0, 1], [2]), ("4..", [4, 1000], [3]), ("5", [5], [4, 6])])
def test_count_range(text, inside, outside):
    r = wire.CountRange.parse(text)
    assert all(n in r for n in inside) and not any(n in r for n in outside)


@pytest.mark.parametrize("bad", ["3..1", "<0", "1-3", "many", ""])
def test_count_range_bad(bad):
    with pytest.raises(WireError):
        wire.CountRange.parse(bad)


def test_count_bpf_and_tshark_agree(caps):
    # guest SYNs at T0+1.0 .. T0+4.0 inclusive: 7; the two from 10.0.2.3 are not counted
    for step in ('wire count "tcp[tcpflags] & tcp-syn != 0 and src host 10.0.2.15" 7 within 1-4s of step 2',
                 'wire count tshark "tcp.flags.syn==1 && ip.src==10.0.2.15" 7 within 1-4s of step 2',
                 'wire count "tcp[tcpflags] & tcp-syn != 0" 9 within 1-4s of step 2',
                 'wire count "tcp" 32',
                 'wire count "udp" 0',
                 'wire count tshark "tcp" >=30'):
        a = wire.parse_wire_step(step, "s.toml", 7)
        res = a.check(caps["stride"], t0=T0)
        assert res.ok, res.message


def test_time_window_bounds(caps):
    a = wire.parse_wire_step('wire count "src host 10.0.2.15" 1 within 0-0ms of start', "s.toml", 3)
    assert a.ref == "start" and a.within == (0.0, 0.0)
    assert a.check(caps["stride"], t0=T0).counted[0].ts_ns == wire.to_ns(T0)
    assert a.check(caps["stride"], t0=T0 + 0.5).ok
    assert not a.evaluate(caps["stride"], t0=T0 + 0.25).ok
    b = wire.parse_wire_step('wire count "src host 10.0.2.15" 2 within 500-1000ms of step 4', "s.toml", 3)
    assert b.ref == 4
    assert b.check(caps["stride"], t0=T0 + 1).ok  # T0+1.5 and T0+2.0
    with pytest.raises(WireError, match="t0"):
        b.evaluate(caps["stride"])


def test_failure_message_shows_filter_and_tcpdump_lines(caps):
    a = wire.parse_wire_step('wire count "tcp[tcpflags] & tcp-syn != 0 and src host 10.0.2.15" 2..4 within 1-4s of step 2',
                             "scenarios/x.toml", 12)
    with pytest.raises(WireFailure) as e:
        a.check(caps["stride"], t0=T0)
    msg = str(e.value)
    assert msg.startswith("scenarios/x.toml:12: wire count")
    assert "7 packets matched within 1-4 s of t0, expected count 2..4" in msg
    assert "filter (bpf): tcp[tcpflags] & tcp-syn != 0 and src host 10.0.2.15" in msg
    assert "IP 10.0.2.15.40002 > 10.0.2.2.80: Flags [S], seq 129000" in msg
    assert "10.0.2.3" not in msg  # not matching the filter
    lines = [ln for ln in msg.splitlines() if "Flags [S]" in ln]
    assert len(lines) == wire.MAX_LINES and "more" in msg.splitlines()[-1]
    assert sum(ln.lstrip().startswith("*") for ln in lines) == 7
    assert "+1.000s" in msg


def test_failure_message_tshark_filter(caps):
    a = wire.parse_wire_step('wire count tshark "tcp.flags.syn==1 && ip.src==10.0.2.3" 0', "s.toml", 5)
    res = a.evaluate(caps["stride"])
    assert not res.ok and len(res.matches) == 2
    assert "IP 10.0.2.3.40090 > 10.0.2.2.80: Flags [S], seq 7" in res.message
    assert "IP 10.0.2.3.40091 > 10.0.2.2.80: Flags [S], seq 8" in res.message
    assert "10.0.2.15" not in res.message


# ---------------------------------------------------------------- field checks

def test_constant_stride_isns_fail(caps):
    a = wire.parse_wire_step('wire field tshark "tcp.flags.syn==1 && tcp.flags.ack==0 && ip.src==10.0.2.15" '
                             'tcp.seq_raw random', "s.toml", 9)
    res = a.evaluate(caps["stride"])
    assert not res.ok
    assert res.values == [1000 + 64000 * i for i in range(30)]
    assert "repeated differences" in res.message and "tcp.seq_raw random failed" in res.message
    assert "Flags [S], seq 1000," in res.message
    b = wire.parse_wire_step('wire field "src host 10.0.2.15 and tcp[tcpflags] == tcp-syn" tcp.seq_raw '
                             'stride-constant monotonic distinct count 30', "s.toml", 10)
    assert b.check(caps["stride"]).ok
    c = wire.parse_wire_step('wire field "src host 10.0.2.15" tcp.seq_raw not-stride-constant', "s.toml", 11)
    assert not c.evaluate(caps["stride"]).ok


def test_random_isns_pass(caps):
    a = wire.parse_wire_step('wire field tshark "tcp.flags.syn==1 && tcp.flags.ack==0" tcp.seq_raw '
                             'random distinct not-stride-constant count 40', "s.toml", 9)
    res = a.check(caps["random"])
    assert len(res.values) == 40 and a.bits == 32


def test_dns_ids_from_linear_generator_fail(caps):
    a = wire.parse_wire_step('wire field "udp dst port 53" dns.id random', "s.toml", 4)
    res = a.evaluate(caps["dns_lcg"])
    assert res.values == lcg16(1, 40)
    assert not res.ok and "16-bit values" in res.message and "FAILED low-bit serial" in res.message
    # the same values are all distinct and not a constant stride: only the randomness test catches them
    assert wire.run_check("distinct", res.values)[0] and wire.run_check("not-stride-constant", res.values)[0]
    ok = wire.parse_wire_step('wire field "udp dst port 53" dns.id random', "s.toml", 4).evaluate(caps["dns_rand"])
    assert ok.ok, ok.message


def test_field_extracted_per_window(caps):
    a = wire.parse_wire_step('wire field tshark "ip.src==10.0.2.15" tcp.srcport stride-constant count 3 '
                             'within 1-2s of step 1', "s.toml", 2)
    res = a.check(caps["stride"], t0=T0)
    assert res.values == [40002, 40003, 40004]


@pytest.mark.parametrize("vals,check,ok", [
    ([1, 2, 3], "distinct", True), ([1, 2, 1], "distinct", False), ([5, 5, 5], "constant", True),
    ([5, 5, 6], "constant", False), ([3, 6, 9], "stride-constant", True), ([3, 6, 10], "stride-constant", False),
    ([3, 6, 10], "not-stride-constant", True), ([1, 5, 9], "monotonic", True), ([1, 5, 5], "monotonic", False),
    ([9, 5], "monotonic", False), ([], "distinct", False), ([1], "stride-constant", False)])
def test_checks(vals, check, ok):
    assert wire.run_check(check, vals)[0] is ok


def test_randomness_battery():
    rnd32 = [secrets.randbits(32) for _ in range(100)]
    ok, tests = wire.randomness(rnd32, 32)
    assert ok, tests
    assert any(t[0].startswith("chi-square") for t in tests)  # n >= 85
    assert not wire.randomness([1000 + 64000 * i for i in range(100)], 32)[0]  # counter
    clock = [int(4e6 * t) + secrets.randbits(8) for t in range(0, 40)]  # 4 us clock, a bit of jitter
    ok, tests = wire.randomness(clock, 32)
    assert not ok and "span" in [t[0] for t in tests if not t[3]]
    assert not wire.randomness([secrets.randbits(16) for _ in range(20)], 32)[0]  # 16 random bits in 32
    assert wire.randomness([secrets.randbits(16) for _ in range(30)], 16)[0]
    assert not wire.randomness([secrets.randbits(32) for _ in range(7)], 32)[0]  # too few to judge
    assert not wire.randomness([x & 0xFFFE for x in (secrets.randbits(16) for _ in range(30))], 16)[0]  # bit 0 stuck
    assert not wire.run_check("random:16", lcg16(7, 24))[0]
    with pytest.raises(WireError, match="integer"):
        wire.run_check("random", ["a", "b"])


# ---------------------------------------------------------------- step parsing

def test_parse_examples():
    a = wire.parse_wire_step('wire count "tcp[tcpflags] & tcp-syn != 0 and src host 10.0.2.15" 2..4 within 1-4s of step 2',
                             "s.toml", 1)
    assert (a.lang, a.count.lo, a.count.hi, a.within, a.ref, a.field) == ("bpf", 2, 4, (1.0, 4.0), 2, None)
    b = wire.parse_wire_step("field tshark 'tcp.flags.syn==1 && tcp.flags.ack==0' tcp.seq_raw distinct not-stride-constant",
                             "s.toml", 2)
    assert (b.lang, b.expr, b.field, b.checks, b.count) == (
        "tshark", "tcp.flags.syn==1 && tcp.flags.ack==0", "tcp.seq_raw", ["distinct", "not-stride-constant"], None)
    c = wire.parse_wire_step('wire field "udp port 53" dns.id random:16 count >=8 within 0-2.5s of start', "s.toml", 3)
    assert c.checks == ["random:16"] and c.count.lo == 8 and c.within == (0.0, 2.5) and c.ref == "start"


@pytest.mark.parametrize("step,needle", [
    ('wire count "tcp[tcpflags] & & x" 1', "does not compile"),
    ('wire count tshark "tcp.flags.syn ==" 1', "tshark filter"),
    ('wire field tshark "tcp" tcp.nosuchfield distinct', "tcp.nosuchfield"),
    ('wire count "tcp" 1..', None),
    ('wire count "tcp" many', "count"),
    ('wire count "tcp"', "count range"),
    ('wire count "tcp" 1 within 1-4 of step 2', "time window"),
    ('wire count "tcp" 1 within 4-1s of step 2', "empty"),
    ('wire count "tcp" 1 within 1-4s of step x', "step N"),
    ('wire count "tcp" 1 within 1-4s', "within"),
    ('wire field "tcp" tcp.seq_raw', "check"),
    ('wire field "tcp" tcp.seq_raw sorted', "unknown check"),
    ('wire field "tcp" tcp.seq_raw random:x', "random:BITS"),
    ('wire frob "tcp" 1', "wire step"),
    ('wire count "tcp 1', "quote"),
    ('wire count "" 1', "empty filter"),
])
def test_parse_errors_name_file_and_line(step, needle):
    if needle is None:
        assert wire.parse_wire_step(step, "scenarios/t.toml", 42).count.hi is None
        return
    with pytest.raises(WireError) as e:
        wire.parse_wire_step(step, "scenarios/t.toml", 42)
    assert str(e.value).startswith("scenarios/t.toml:42: ") and needle in str(e.value)
    assert e.value.file == "scenarios/t.toml" and e.value.line == 42


def test_no_network_use_in_module():
    src = open(wire.__file__).read()
    for bad in ("import socket", "sendp(", "srp(", "sr1(", "scapy"):
        assert bad not in src
