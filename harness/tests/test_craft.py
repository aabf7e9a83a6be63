"""Crafted packets (fwnet.craft): every template parses back with its fields."""
import ast
import os
import subprocess

import pytest

pytest.importorskip("scapy.layers.inet")
from scapy.layers.dhcp import BOOTP, DHCP  # noqa: E402
from scapy.layers.dhcp6 import DHCP6_Advertise, DHCP6OptClientId, DHCP6OptIAAddress, DHCP6OptDNSServers  # noqa: E402
from scapy.layers.dns import DNS  # noqa: E402
from scapy.layers.inet import ICMP, IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import (ICMPv6DestUnreach, ICMPv6ND_RA, ICMPv6NDOptMTU, ICMPv6NDOptPrefixInfo,  # noqa: E402
                                ICMPv6NDOptRDNSS, IPv6, IPv6ExtHdrDestOpt)
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.utils import wrpcap  # noqa: E402

from fwnet import craft  # noqa: E402
from fwnet.craft import CraftError  # noqa: E402

GW, GUEST = "10.0.2.2", "10.0.2.15"
CONN = dict(src=GW, dst=GUEST, sport=80, dport=49152)


def parse(b):
    assert isinstance(b, bytes)
    return Ether(b)


def test_registry_has_templates():
    for name in ("tcp-rst", "tcp-data-oow", "tcp-options", "dhcp-offer", "dhcp-ack", "dns-reply", "icmp-unreach",
                 "ipv6-ra", "dhcpv6-advertise", "ipv6-dstopt", "raw"):
        assert name in craft.TEMPLATES


def test_tcp_rst_in_and_out_of_window():
    p = parse(craft.build("tcp-rst", seq=1000, **CONN))
    assert (p[IP].src, p[IP].dst, p[TCP].sport, p[TCP].dport, p[TCP].seq, str(p[TCP].flags)) == \
        (GW, GUEST, 80, 49152, 1000, "R")
    assert (p.src, p.dst) == (craft.GATEWAY_MAC, craft.GUEST_MAC)
    q = parse(craft.build("tcp-rst", seq="0xfffffff0", window_offset="70000", ack=5, src_mac="02:00:00:00:00:01",
                          dst_mac="02:00:00:00:00:02", **{k: str(v) for k, v in CONN.items()}))
    assert q[TCP].seq == (0xFFFFFFF0 + 70000) % 2 ** 32 and str(q[TCP].flags) == "RA" and q[TCP].ack == 5
    assert (q.src, q.dst) == ("02:00:00:00:00:01", "02:00:00:00:00:02")
    v6 = parse(craft.build("tcp-rst", src="fe80::2", dst="fe80::5054:ff:fe12:3456", sport=1, dport=2, seq=3))
    assert v6[IPv6].nh == 6 and v6[TCP].seq == 3
    # checksums are right: scapy recomputes them equal after clearing
    c = p[IP].copy()
    del c[TCP].chksum, c.chksum
    assert IP(bytes(c))[TCP].chksum == p[TCP].chksum


def test_tcp_data_oow():
    p = parse(craft.build("tcp-data-oow", seq=1000, ack=77, payload="414243", **CONN))
    assert p[TCP].seq == 1000 + (1 << 30) and p[TCP].ack == 77 and bytes(p[TCP].payload) == b"ABC"
    q = parse(craft.build("tcp-data-oow", seq=1000, ack=77, offset=-20, **CONN))
    assert q[TCP].seq == 980 and len(bytes(q[TCP].payload)) == 16


def test_tcp_options_named_raw_and_scapy():
    p = parse(craft.build("tcp-options", options="len-zero", **CONN))
    assert p[TCP].dataofs == 6 and bytes(p[TCP])[20:24] == bytes.fromhex("fe000000")
    p = parse(craft.build("tcp-options", options="nop-flood", **CONN))
    assert p[TCP].dataofs == 15 and bytes(p[TCP])[20:60] == b"\x01" * 40
    p = parse(craft.build("tcp-options", raw_options="020405", **CONN))  # padded with EOL
    assert p[TCP].dataofs == 6 and bytes(p[TCP])[20:24] == bytes.fromhex("02040500")
    p = parse(craft.build("tcp-options", options="MSS=1460,WScale=14,SAckOK,Timestamp=5:0", **CONN))
    opts = dict((k, v) for k, v in p[TCP].options)
    assert opts["MSS"] == 1460 and opts["WScale"] == 14 and opts["Timestamp"] == (5, 0) and "SAckOK" in opts
    p = parse(craft.build("tcp-options", raw_options="0204ffff", dataofs=4, **CONN))  # header length below 5
    assert p[TCP].dataofs == 4
    with pytest.raises(CraftError, match="raw_options"):
        craft.build("tcp-options", raw_options="01" * 44, **CONN)


@pytest.mark.parametrize("name,mtype", [("dhcp-offer", 2), ("dhcp-ack", 5)])
def test_dhcp(name, mtype):
    p = parse(craft.build(name, xid="0xdeadbeef", yiaddr="10.0.2.15", router="10.0.2.9", dns="10.0.2.3,10.0.2.4",
                          lease="600"))
    assert p[UDP].sport == 67 and p[UDP].dport == 68 and p[BOOTP].op == 2
    assert p[BOOTP].xid == 0xDEADBEEF and p[BOOTP].yiaddr == "10.0.2.15"
    assert p[BOOTP].chaddr[:6] == bytes.fromhex("525400123456")
    opts = {o[0]: o[1:] for o in p[DHCP].options if isinstance(o, tuple)}
    assert opts["message-type"] == (mtype,) and opts["router"] == ("10.0.2.9",)
    assert opts["name_server"] == ("10.0.2.3", "10.0.2.4") and opts["lease_time"] == (600,)
    assert p[DHCP].options[-1] == "end"


def test_dhcp_malformed_and_raw():
    b = craft.build("dhcp-offer", xid=1, yiaddr=GUEST, malformed="overlong", no_end=True)
    assert bytes(parse(b)[DHCP]).endswith(bytes.fromhex("0320"))  # no end option after the overlong one
    b = craft.build("dhcp-ack", xid=1, yiaddr=GUEST, raw_options="fa03010203", router="")
    d = bytes(parse(b)[DHCP])
    assert d.endswith(bytes.fromhex("fa03010203ff"))
    assert not any(isinstance(o, tuple) and o[0] == "router" for o in parse(b)[DHCP].options)
    with pytest.raises(CraftError, match="malformed"):
        craft.build("dhcp-offer", xid=1, yiaddr=GUEST, malformed="nonsense")


def test_dns_reply():
    p = parse(craft.build("dns-reply", id="0x1234", qname="a.example", dport=50001,
                          answers="10.0.2.77,CNAME:b.example", rcode="3", truncated="true"))
    d = p[DNS]
    assert (p[IP].src, p[UDP].sport, p[UDP].dport) == ("10.0.2.3", 53, 50001)
    assert (d.id, d.qr, d.tc, d.rcode, d.qdcount, d.ancount) == (0x1234, 1, 1, 3, 1, 2)
    assert d.qd.qname == b"a.example."
    assert d.an[0].rdata == "10.0.2.77" and d.an[1].type == 5 and d.an[1].rdata == b"b.example."
    e = parse(craft.build("dns-reply", id=7, qname="x.example", qtype="AAAA", answers=["fd00::5"]))[DNS]
    assert e.tc == 0 and e.rcode == 0 and e.an[0].type == 28 and e.an[0].rdata == "fd00::5"
    with pytest.raises(CraftError, match="qtype"):
        craft.build("dns-reply", id=7, qname="x.example", qtype="BOGUS")


def test_icmp_unreach_quotes_original():
    orig = craft.build("tcp-rst", src=GUEST, dst="10.0.2.99", sport=4000, dport=80, seq=1)
    p = parse(craft.build("icmp-unreach", original=orig, src=GW, code=1))
    assert (p[IP].src, p[IP].dst, p[ICMP].type, p[ICMP].code) == (GW, GUEST, 3, 1)
    inner = bytes(Ether(orig)[IP])
    assert bytes(p[ICMP].payload) == inner[:28]  # IP header and 8 bytes
    full = parse(craft.build("icmp-unreach", original=inner.hex(), src=GW, quote=1000))
    assert bytes(full[ICMP].payload) == inner
    v6o = craft.build("tcp-rst", src="fd00::15", dst="fd00::99", sport=1, dport=2, seq=3)
    q = parse(craft.build("icmp-unreach", original=v6o, src="fd00::2", code=4))
    assert q[IPv6].dst == "fd00::15" and q[ICMPv6DestUnreach].code == 4
    assert bytes(q[ICMPv6DestUnreach].payload) == bytes(Ether(v6o)[IPv6])


def test_ipv6_ra():
    p = parse(craft.build("ipv6-ra", prefix="fd00:1::/64", router_lifetime=0, mtu=1280, rdnss="fd00::3",
                          raw_options="0500"))
    assert p.dst == "33:33:00:00:00:01" and p[IPv6].hlim == 255 and p[IPv6].dst == "ff02::1"
    assert p[ICMPv6ND_RA].routerlifetime == 0
    pi = p[ICMPv6NDOptPrefixInfo]
    assert (pi.prefix, pi.prefixlen, pi.L, pi.A) == ("fd00:1::", 64, 1, 1)
    assert p[ICMPv6NDOptMTU].mtu == 1280 and p[ICMPv6NDOptRDNSS].dns == ["fd00::3"]
    assert bytes(p[IPv6].payload).endswith(bytes.fromhex("0500"))  # a malformed option of length 0


def test_dhcpv6_advertise():
    p = parse(craft.build("dhcpv6-advertise", trid="0xabcdef", address="fd00::42", dns="fd00::3,fd00::4"))
    assert (p[UDP].sport, p[UDP].dport) == (547, 546)
    assert p[DHCP6_Advertise].trid == 0xABCDEF
    assert p[DHCP6OptClientId].duid.lladdr == craft.GUEST_MAC
    assert p[DHCP6OptIAAddress].addr == "fd00::42" and p[DHCP6OptDNSServers].dnsservers == ["fd00::3", "fd00::4"]
    q = parse(craft.build("dhcpv6-advertise", trid=1, client_duid="000300015254001234ff"))
    assert q[DHCP6OptClientId].optlen == 10
    assert bytes(q[DHCP6OptClientId])[4:14] == bytes.fromhex("000300015254001234ff")


@pytest.mark.parametrize("opt_len", [0, 1, 5])
def test_ipv6_dstopt(opt_len):
    p = parse(craft.build("ipv6-dstopt", opt_len=opt_len))
    assert p[IPv6].nh == 60
    h = bytes(p[IPv6ExtHdrDestOpt])
    assert (len(h)) % 8 == 0 and h[0] == 59
    assert h[2] == 0x1E and h[3] == opt_len  # the unknown option first, of the given data length
    o = p[IPv6ExtHdrDestOpt].options[0]
    assert o.otype == 0x1E and o.optlen == opt_len


def test_ipv6_dstopt_with_udp():
    p = parse(craft.build("ipv6-dstopt", opt_type="0x3e", nh=17, payload="6869", dport=7))
    assert p[IPv6ExtHdrDestOpt].nh == 17 and p[UDP].dport == 7 and bytes(p[UDP].payload) == b"hi"
    assert p[IPv6ExtHdrDestOpt].options[0].otype == 0x3E


def test_raw_expression():
    p = parse(craft.build("raw", expr='IP(src="10.0.2.2", dst="10.0.2.15")/UDP(sport=9, dport=7)/Raw(b"x" * 3)'))
    assert p.src == craft.GATEWAY_MAC and p[UDP].dport == 7 and bytes(p[UDP].payload) == b"xxx"
    q = parse(craft.build("raw", expr='Ether(dst="ff:ff:ff:ff:ff:ff")/IPv6(dst="ff02::1")/ICMPv6ND_RA()'))
    assert q.dst == "ff:ff:ff:ff:ff:ff" and ICMPv6ND_RA in q
    d = parse(craft.build("raw", expr='IP()/UDP(sport=67, dport=68)/BOOTP(xid=9)/DHCP(options=[("message-type", "nak"), "end"])'))
    assert d[BOOTP].xid == 9 and d[DHCP].options[0] == ("message-type", 6)
    assert {"Ether", "IP", "IPv6", "TCP", "UDP", "DNS", "BOOTP", "DHCP", "DHCP6_Advertise", "Raw"} <= set(craft.LAYERS)


@pytest.mark.parametrize("expr,needle", [
    ('__import__("os").system("true")', "not allowed"),
    ('__import__("os")', "not a scapy layer"),
    ('IP().__class__', "Attribute"),
    ('open("/etc/passwd")', "not a scapy layer"),
    ('[x for x in IP()]', "ListComp"),
    ('lambda: 1', "Lambda"),
    ('1 + 2', "not a packet"),
    ('IP(', "does not parse"),
    ('IP(nosuchfield=1)', "nosuchfield"),
    ('Raw(b"x" * 100000000)', "65535"),
])
def test_raw_is_restricted(expr, needle):
    with pytest.raises(CraftError) as e:
        craft.build("raw", expr=expr)
    assert needle in str(e.value) and "raw" in str(e.value)


@pytest.mark.parametrize("name,params,param", [
    ("tcp-rst", dict(src=GW, dst=GUEST, sport=1, dport=2), "seq"),
    ("tcp-data-oow", dict(src=GW), "dst"),
    ("dhcp-offer", dict(yiaddr=GUEST), "xid"),
    ("dns-reply", dict(id=1), "qname"),
    ("icmp-unreach", dict(src=GW), "original"),
    ("dhcpv6-advertise", {}, "trid"),
    ("raw", {}, "expr"),
])
def test_missing_parameter(name, params, param):
    with pytest.raises(CraftError) as e:
        craft.build(name, **params)
    assert e.value.template == name and e.value.param == param
    assert name in str(e.value) and "missing parameter %s" % param in str(e.value)


def test_unknown_and_bad_parameters():
    with pytest.raises(CraftError) as e:
        craft.build("tcp-rst", seq=1, bogus=2, **CONN)
    assert e.value.param == "bogus" and "unknown parameter bogus" in str(e.value)
    with pytest.raises(CraftError) as e:
        craft.build("tcp-rst", seq="twelve", **CONN)
    assert e.value.param == "seq" and "twelve" in str(e.value)
    with pytest.raises(CraftError, match="truncated"):
        craft.build("dns-reply", id=1, qname="a", truncated="maybe")


def test_validate_names_file_and_line():
    assert craft.validate("dns-reply", {"id": "0x10", "qname": "a.example"}, "s.toml", 3)["id"] == 16
    with pytest.raises(CraftError) as e:
        craft.validate("dns-reply", {"id": "1"}, "scenarios/x.toml", 17)
    assert str(e.value).startswith("scenarios/x.toml:17: ") and "qname" in str(e.value)
    assert (e.value.file, e.value.line, e.value.param) == ("scenarios/x.toml", 17, "qname")
    with pytest.raises(CraftError) as e:
        craft.validate("tcp-syn-flood", {}, "scenarios/x.toml", 18)
    assert str(e.value).startswith("scenarios/x.toml:18: ") and "tcp-syn-flood" in str(e.value)


def test_tshark_dissects_every_template(tmp_path):
    """An independent parser agrees: tshark sees the protocols in each frame."""
    orig = craft.build("tcp-rst", src=GUEST, dst="10.0.2.99", sport=4000, dport=80, seq=1)
    frames = [
        ("tcp-rst", dict(seq=1, **CONN), "tcp"),
        ("tcp-data-oow", dict(seq=1, ack=1, **CONN), "tcp"),
        ("tcp-options", dict(options="mss-zero", **CONN), "tcp"),
        ("dhcp-offer", dict(xid=1, yiaddr=GUEST), "dhcp"),
        ("dhcp-ack", dict(xid=1, yiaddr=GUEST), "dhcp"),
        ("dns-reply", dict(id=1, qname="a.example", answers="1.2.3.4"), "dns"),
        ("icmp-unreach", dict(original=orig, src=GW), "icmp"),
        ("ipv6-ra", {}, "icmpv6"),
        ("dhcpv6-advertise", dict(trid=5), "dhcpv6"),
        ("ipv6-dstopt", {}, "ipv6.dstopts"),
        ("raw", dict(expr='IP(dst="10.0.2.15")/UDP(dport=7)'), "udp"),
    ]
    pcap = str(tmp_path / "craft.pcap")
    wrpcap(pcap, [Ether(craft.build(n, **p)) for n, p, _ in frames])
    r = subprocess.run(["tshark", "-n", "-r", pcap, "-T", "fields", "-e", "frame.protocols", "-e", "dhcp.option.dhcp",
                        "-e", "ipv6.opt.type", "-e", "ipv6.opt.length", "-e", "dns.id"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rows = [ln.split("\t") for ln in r.stdout.splitlines()]
    assert len(rows) == len(frames)
    for (name, _, proto), row in zip(frames, rows):
        assert proto in row[0].split(":") or proto in row[0], (name, row)
    assert rows[3][1] == "2" and rows[4][1] == "5"  # DHCP message types offer, ack
    assert int(rows[9][2].split(",")[0], 0) == 0x1E and int(rows[9][3].split(",")[0]) == 0  # unknown option, length 0
    assert rows[5][4] == "0x0001"


def test_modules_never_send():
    """Network safety: no sockets, no scapy send/receive calls in these modules."""
    forbidden = {"send", "sendp", "sr", "sr1", "srp", "srp1", "sniff", "sendpfast", "srloop", "srploop",
                 "socket", "conf", "L2Socket", "L3RawSocket"}
    here = os.path.dirname(craft.__file__)
    for mod in ("craft.py", "wire.py"):
        tree = ast.parse(open(os.path.join(here, mod)).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "socket" or a.name == "scapy.all" for a in node.names), mod
            if isinstance(node, ast.ImportFrom):
                assert node.module not in ("socket", "scapy.all", "scapy.sendrecv"), (mod, node.module)
                assert not any(a.name in forbidden for a in node.names), mod
            if isinstance(node, ast.Name):
                assert node.id not in forbidden, (mod, node.id)
            if isinstance(node, ast.Attribute):
                assert node.attr not in forbidden - {"conf"}, (mod, node.attr)
    assert not any(k in craft.LAYERS for k in ("send", "sendp", "srp", "sniff", "conf"))
