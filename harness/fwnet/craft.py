"""Crafted packets, built with scapy: a registry of templates, each a function
of named parameters returning a full Ethernet frame (bytes).

    frame = craft.build("tcp-rst", src="10.0.2.2", dst="10.0.2.15", sport=80, dport=49152,
                        seq=1000, window_offset=70000)
    craft.validate("dns-reply", {"id": "0x1234", "qname": "a.example"}, "s.toml", 12)

Parameters may be given typed or as the strings a scenario file holds
("0x1234", "1,2,3", "true"); missing or unknown parameters raise CraftError
naming the template and parameter (`validate` adds the file and line). Every
template takes `src_mac` and `dst_mac` (defaults: slirp's gateway MAC as the
sender, QEMU's default guest MAC as the receiver).

Network safety: this module only builds bytes. It opens no socket and calls
none of scapy's send functions (send, sendp, sr, srp, ...); whoever injects a
frame (netsim, into its own LAN) is responsible for where it goes.
"""
import ast
import inspect

from scapy.packet import Packet, Raw, Padding
import scapy.layers.l2 as _l2
import scapy.layers.inet as _inet
import scapy.layers.inet6 as _inet6
import scapy.layers.dns as _dns
import scapy.layers.dhcp as _m_dhcp
import scapy.layers.dhcp6 as _dhcp6
from scapy.layers.l2 import Ether
from scapy.layers.inet import IP, TCP, UDP, ICMP
from scapy.layers.inet6 import (IPv6, IPv6ExtHdrDestOpt, HBHOptUnknown, ICMPv6ND_RA, ICMPv6NDOptPrefixInfo,
                                ICMPv6NDOptMTU, ICMPv6NDOptSrcLLAddr, ICMPv6NDOptRDNSS, ICMPv6DestUnreach)
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dhcp6 import (DHCP6_Advertise, DHCP6OptClientId, DHCP6OptServerId, DUID_LL, DHCP6OptIA_NA,
                                DHCP6OptIAAddress, DHCP6OptDNSServers)

GATEWAY_MAC = "52:54:00:12:35:02"  # slirp's gateway
GUEST_MAC = "52:54:00:12:34:56"    # QEMU's default NIC address
REQUIRED = inspect.Parameter.empty


class CraftError(Exception):
    def __init__(self, msg, template=None, param=None, file=None, line=None):
        self.msg, self.template, self.param, self.file, self.line = msg, template, param, file, line
        super().__init__("%s:%s: %s" % (file, line, msg) if file is not None else msg)


# ---------------------------------------------------------------- parameter types

def _int(v):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    return int(str(v).strip(), 0)


def _bool(v):
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError("not a boolean: %r" % v)


def _str(v):
    return str(v)


def _list(v):
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return list(v)
    return [x.strip() for x in str(v).split(",") if x.strip()]


def _bytes(v):
    """bytes, or hex text ("0201ff", "02 01 ff", "0x0201ff")."""
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    s = str(v).strip().replace(" ", "").replace(":", "")
    if s.startswith(("0x", "0X")):
        s = s[2:]
    return bytes.fromhex(s)


def _packet(v):
    """An original packet: a scapy packet, or bytes/hex of an IP packet or an Ethernet frame."""
    if isinstance(v, Packet):
        return v
    b = _bytes(v)
    if b[:1] and b[0] >> 4 == 4:
        return IP(b)
    if b[:1] and b[0] >> 4 == 6:
        return IPv6(b)
    return Ether(b)


TEMPLATES = {}


class Template:
    def __init__(self, name, fn, types, doc):
        self.name, self.fn, self.types, self.doc = name, fn, types, doc
        sig = inspect.signature(fn)
        self.params = {k: p.default for k, p in sig.parameters.items()}
        self.params.setdefault("src_mac", GATEWAY_MAC)
        self.params.setdefault("dst_mac", GUEST_MAC)

    @property
    def required(self):
        return [k for k, d in self.params.items() if d is REQUIRED]

    def coerce(self, params):
        unknown = [k for k in params if k not in self.params]
        if unknown:
            raise CraftError("template %s: unknown parameter %s (parameters: %s)"
                             % (self.name, unknown[0], ", ".join(self.params)), self.name, unknown[0])
        missing = [k for k in self.required if k not in params]
        if missing:
            raise CraftError("template %s: missing parameter %s" % (self.name, missing[0]), self.name, missing[0])
        out = {}
        for k, v in params.items():
            conv = self.types.get(k, _str if k.endswith("_mac") else None)
            try:
                out[k] = conv(v) if conv is not None and v is not None else v
            except (ValueError, TypeError) as e:
                raise CraftError("template %s: parameter %s=%r: %s" % (self.name, k, v, e), self.name, k)
        return out


def template(name, **types):
    """Register fn as template `name`; `types` converts string parameters."""
    def deco(fn):
        TEMPLATES[name] = Template(name, fn, dict(types), (fn.__doc__ or "").strip())
        return fn
    return deco


def _frame(pkt, src_mac, dst_mac):
    return bytes(Ether(src=src_mac, dst=dst_mac) / pkt)


def _ip(src, dst, **kw):
    return IPv6(src=src, dst=dst, **kw) if ":" in src or ":" in dst else IP(src=src, dst=dst, **kw)


def validate(template_name, params, file=None, line=None):
    """Check a template name and parameters (as a scenario file gives them),
    raising CraftError naming file:line, template and parameter; returns the
    converted parameters."""
    t = TEMPLATES.get(template_name)
    if t is None:
        raise CraftError("unknown packet template %r (templates: %s)"
                         % (template_name, ", ".join(sorted(TEMPLATES))), template_name, None, file, line)
    try:
        return t.coerce(dict(params))
    except CraftError as e:
        raise CraftError(e.msg, e.template, e.param, file, line)


def build(template_name, **params):
    """The Ethernet frame (bytes) of template `template_name` with `params`."""
    p = validate(template_name, params)
    t = TEMPLATES[template_name]
    macs = {k: p.pop(k, t.params[k]) for k in ("src_mac", "dst_mac")}
    own_macs = "src_mac" in inspect.signature(t.fn).parameters
    if own_macs:  # templates that use the MACs themselves (link-layer options)
        p.update(macs)
    try:
        out = t.fn(**p)
        return out if own_macs else _frame(out, macs["src_mac"], macs["dst_mac"])
    except CraftError:
        raise
    except Exception as e:  # scapy refusing a value: name the template
        raise CraftError("template %s: %s: %s" % (template_name, type(e).__name__, e), template_name)


def build_packet(template_name, **params):
    """build(), parsed back by scapy (an Ether packet), for inspection."""
    return Ether(build(template_name, **params))


# ---------------------------------------------------------------- TCP

@template("tcp-rst", sport=_int, dport=_int, seq=_int, window_offset=_int, ack=_int)
def tcp_rst(src, dst, sport, dport, seq, window_offset=0, ack=None):
    """A RST to a guest connection: seq is the guest's rcv_nxt (the next
    sequence number it expects); window_offset moves it (0: exactly in
    window; beyond the guest's window: out of window). ack given: RST|ACK."""
    flags = "RA" if ack is not None else "R"
    return _ip(src, dst) / TCP(sport=sport, dport=dport, seq=(seq + window_offset) % 2 ** 32,
                               ack=(ack or 0) % 2 ** 32, flags=flags, window=0)


@template("tcp-data-oow", sport=_int, dport=_int, seq=_int, ack=_int, offset=_int, payload=_bytes, flags=_str)
def tcp_data_oow(src, dst, sport, dport, seq, ack, offset=1 << 30, payload=b"fwnet-oow-data!!", flags="PA"):
    """Data outside the guest's receive window: seq (its rcv_nxt) + offset."""
    return _ip(src, dst) / TCP(sport=sport, dport=dport, seq=(seq + offset) % 2 ** 32, ack=ack % 2 ** 32,
                               flags=flags, window=65535) / Raw(payload)


TCP_ODD_OPTIONS = {  # named odd option sets, as option bytes after the 20-byte header
    "mss-zero": bytes.fromhex("02040000"),            # MSS 0
    "mss-short": bytes.fromhex("02020000"),           # MSS with length 2 (no value)
    "len-zero": bytes.fromhex("fe000000"),            # an option of length 0 (loops naive parsers)
    "len-overrun": bytes.fromhex("0828000000000000"),  # timestamp claiming 40 bytes
    "unknown-kind": bytes.fromhex("fd06deadbeef0000"),  # experimental kind 253
    "wscale-huge": bytes.fromhex("03030f00"),         # window scale 15 (> 14)
    "sack-bad": bytes.fromhex("0505000000000000"),    # SACK block of length 5
    "nop-flood": b"\x01" * 40,                        # 40 NOPs: the largest option space
    "eol-garbage": bytes.fromhex("00ffffff"),         # EOL followed by garbage
}


@template("tcp-options", sport=_int, dport=_int, seq=_int, ack=_int, flags=_str, options=_str,
          raw_options=_bytes, dataofs=_int, payload=_bytes)
def tcp_options(src, dst, sport, dport, seq=0, ack=0, flags="S", options="", raw_options=None,
                dataofs=None, payload=b""):
    """A segment with odd TCP options: `options` names one of TCP_ODD_OPTIONS
    or lists scapy options ("MSS=1460,WScale=14,SAckOK,NOP,EOL");
    `raw_options` gives the option bytes themselves (padded with EOL to 4
    bytes unless dataofs, the header length in 32-bit words, is given)."""
    if raw_options is None and options in TCP_ODD_OPTIONS:
        raw_options = TCP_ODD_OPTIONS[options]
    if raw_options is not None:
        opt = raw_options + b"\x00" * (-len(raw_options) % 4)
        if dataofs is None and len(opt) > 40:
            raise CraftError("template tcp-options: raw_options longer than 40 bytes", "tcp-options", "raw_options")
        th = TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, window=65535,
                 dataofs=dataofs if dataofs is not None else 5 + len(opt) // 4)
        return _ip(src, dst) / th / Raw(opt + payload)
    opts = []
    for item in _list(options):
        k, _, v = item.partition("=")
        if not v:
            opts.append((k, b"") if k in ("SAckOK",) else (k, None) if k in ("NOP", "EOL") else (k, b""))
        elif k == "Timestamp":
            a, _, b = v.partition(":")
            opts.append((k, (_int(a), _int(b or "0"))))
        else:
            opts.append((k, _int(v)))
    th = TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, window=65535, options=opts)
    if dataofs is not None:
        th.dataofs = dataofs
    return _ip(src, dst) / th / (Raw(payload) if payload else b"")


# ---------------------------------------------------------------- DHCP

DHCP_MALFORMED = {  # option bytes appended before 'end'
    "overlong": bytes.fromhex("0320"),           # router option claiming 32 bytes, none follow
    "zero-router": bytes.fromhex("0300"),        # router option of length 0
    "odd-dns": bytes.fromhex("0605"),            # DNS servers, length 5 (not a multiple of 4)
    "bad-mask": bytes.fromhex("01030a0b0c"),     # subnet mask of length 3
}


def _dhcp(msg, xid, yiaddr, chaddr, server, router, dns, mask, lease, options, raw_options, malformed,
          no_end, src, dst, sport, dport):
    opts = [("message-type", msg), ("server_id", server), ("lease_time", lease), ("subnet_mask", mask)]
    if router:
        opts.append(("router", router))
    if dns:
        opts.append(("name_server",) + tuple(dns))
    for item in _list(options):  # NAME=VALUE in scapy's option names
        k, _, v = item.partition("=")
        opts.append((k, _int(v) if v.isdigit() else v))
    if raw_options:
        opts.append(raw_options)
    if malformed:
        if malformed not in DHCP_MALFORMED:
            raise CraftError("template dhcp: malformed=%r: one of %s" % (malformed, ", ".join(DHCP_MALFORMED)),
                             "dhcp-" + msg, "malformed")
        opts.append(DHCP_MALFORMED[malformed])
    if not no_end:
        opts.append("end")
    chaddr_b = bytes.fromhex(chaddr.replace(":", "")) + b"\x00" * 10
    return (IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) /
            BOOTP(op=2, xid=xid % 2 ** 32, yiaddr=yiaddr, siaddr=server, chaddr=chaddr_b) / DHCP(options=opts))


_DHCP_TYPES = dict(xid=_int, lease=_int, dns=_list, no_end=_bool, raw_options=_bytes, sport=_int, dport=_int)


@template("dhcp-offer", **_DHCP_TYPES)
def dhcp_offer(xid, yiaddr, chaddr=GUEST_MAC, server="10.0.2.2", router="10.0.2.2", dns=("10.0.2.3",),
               mask="255.255.255.0", lease=86400, options="", raw_options=None, malformed="", no_end=False,
               src="10.0.2.2", dst="255.255.255.255", sport=67, dport=68):
    """A DHCPOFFER: xid, yiaddr, router, dns; `options` adds NAME=VALUE
    (scapy's names), `raw_options` raw bytes, `malformed` one of
    DHCP_MALFORMED; no_end leaves out the end option."""
    return _dhcp("offer", xid, yiaddr, chaddr, server, router, dns, mask, lease, options, raw_options,
                 malformed, no_end, src, dst, sport, dport)


@template("dhcp-ack", **_DHCP_TYPES)
def dhcp_ack(xid, yiaddr, chaddr=GUEST_MAC, server="10.0.2.2", router="10.0.2.2", dns=("10.0.2.3",),
             mask="255.255.255.0", lease=86400, options="", raw_options=None, malformed="", no_end=False,
             src="10.0.2.2", dst="255.255.255.255", sport=67, dport=68):
    """A DHCPACK, parameters as dhcp-offer."""
    return _dhcp("ack", xid, yiaddr, chaddr, server, router, dns, mask, lease, options, raw_options,
                 malformed, no_end, src, dst, sport, dport)


# ---------------------------------------------------------------- DNS

DNS_TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28}


@template("dns-reply", id=_int, dport=_int, sport=_int, answers=_list, rcode=_int, truncated=_bool, ttl=_int)
def dns_reply(id, qname, dport=49152, answers=(), qtype="A", rcode=0, truncated=False, ttl=60,
              src="10.0.2.3", dst="10.0.2.15", sport=53):
    """A DNS response: id, qname, answers ("1.2.3.4", "AAAA:fd00::1",
    "CNAME:b.example", "TXT:hello"; type defaults to qtype), rcode, truncated (TC)."""
    rrs = None
    for a in answers:
        t, _, v = a.partition(":") if a.split(":", 1)[0].upper() in DNS_TYPES else ("", "", a)
        t = (t or qtype).upper()
        rr = DNSRR(rrname=qname, type=t, ttl=ttl, rdata=v)
        rrs = rr if rrs is None else rrs / rr
    qt = DNS_TYPES.get(str(qtype).upper())
    if qt is None:
        raise CraftError("template dns-reply: qtype %r: one of %s" % (qtype, ", ".join(DNS_TYPES)), "dns-reply", "qtype")
    return _ip(src, dst) / UDP(sport=sport, dport=dport) / DNS(
        id=id % 65536, qr=1, aa=0, rd=1, ra=1, tc=int(truncated), rcode=rcode,
        qd=DNSQR(qname=qname, qtype=qt), an=rrs)


# ---------------------------------------------------------------- ICMP

@template("icmp-unreach", original=_packet, code=_int, quote=_int)
def icmp_unreach(original, src, code=3, dst=None, quote=None):
    """Destination unreachable (code: 0 net, 1 host, 3 port, 4 frag needed...)
    quoting `original` (the guest's packet: scapy packet, or hex of IP/Ethernet):
    its IP header and 8 bytes (RFC 792), or `quote` bytes of it. IPv6 originals
    get ICMPv6 destination unreachable."""
    inner = original
    if isinstance(inner, Ether):
        inner = inner.payload
    raw = bytes(inner)
    v6 = isinstance(inner, IPv6)
    if quote is None:
        quote = 1232 if v6 else (raw[0] & 0x0F) * 4 + 8
    dst = dst or inner.src
    if v6:
        return IPv6(src=src, dst=dst) / ICMPv6DestUnreach(code=code) / Raw(raw[:quote])
    return IP(src=src, dst=dst) / ICMP(type=3, code=code) / Raw(raw[:quote])


# ---------------------------------------------------------------- IPv6

@template("ipv6-ra", router_lifetime=_int, prefixlen=_int, valid=_int, preferred=_int, mtu=_int, rdnss=_list,
          raw_options=_bytes, hlim=_int, onlink=_bool, autonomous=_bool)
def ipv6_ra(prefix="fd00::", prefixlen=64, router_lifetime=1800, valid=86400, preferred=14400, mtu=None,
            rdnss=(), raw_options=None, hlim=255, onlink=True, autonomous=True, src="fe80::2", dst="ff02::1",
            src_mac=GATEWAY_MAC, dst_mac="33:33:00:00:00:01"):
    """A router advertisement: prefix (with its length, or "fd00::/64"),
    router_lifetime, mtu, rdnss servers; raw_options appends option bytes as
    they are (malformed ones too, e.g. 0500: an option of length 0)."""
    if "/" in prefix:
        prefix, _, pl = prefix.partition("/")
        prefixlen = _int(pl)
    pkt = IPv6(src=src, dst=dst, hlim=hlim) / ICMPv6ND_RA(routerlifetime=router_lifetime) / \
        ICMPv6NDOptSrcLLAddr(lladdr=src_mac)
    if prefix:
        pkt = pkt / ICMPv6NDOptPrefixInfo(prefix=prefix, prefixlen=prefixlen, validlifetime=valid,
                                          preferredlifetime=preferred, L=int(onlink), A=int(autonomous))
    if mtu is not None:
        pkt = pkt / ICMPv6NDOptMTU(mtu=mtu)
    if rdnss:
        pkt = pkt / ICMPv6NDOptRDNSS(dns=list(rdnss))
    if raw_options:
        pkt = pkt / Raw(raw_options)
    return _frame(pkt, src_mac, dst_mac)


@template("dhcpv6-advertise", trid=_int, client_duid=_bytes, iaid=_int, preferred=_int, valid=_int, dns=_list,
          raw_options=_bytes, sport=_int, dport=_int)
def dhcpv6_advertise(trid, client_duid=None, iaid=1, address="fd00::100", preferred=3600, valid=7200,
                     dns=("fd00::3",), raw_options=None, src="fe80::2", dst="fe80::5054:ff:fe12:3456",
                     sport=547, dport=546, src_mac=GATEWAY_MAC, dst_mac=GUEST_MAC):
    """A DHCPv6 ADVERTISE: trid (24 bits), the client's DUID (bytes; default
    DUID-LL of dst_mac), an IA_NA (iaid) with `address`, DNS servers;
    raw_options appended as they are."""
    if client_duid is None:
        cid = DHCP6OptClientId(duid=DUID_LL(lladdr=dst_mac))
    else:
        cid = DHCP6OptClientId(duid=Raw(client_duid))
    pkt = (IPv6(src=src, dst=dst) / UDP(sport=sport, dport=dport) / DHCP6_Advertise(trid=trid % 2 ** 24) /
           cid / DHCP6OptServerId(duid=DUID_LL(lladdr=src_mac)) /
           DHCP6OptIA_NA(iaid=iaid, T1=preferred // 2, T2=preferred * 4 // 5,
                         ianaopts=[DHCP6OptIAAddress(addr=address, preflft=preferred, validlft=valid)]))
    if dns:
        pkt = pkt / DHCP6OptDNSServers(dnsservers=list(dns))
    if raw_options:
        pkt = pkt / Raw(raw_options)
    return _frame(pkt, src_mac, dst_mac)


@template("ipv6-dstopt", opt_type=_int, opt_len=_int, nh=_int, payload=_bytes, dport=_int, sport=_int)
def ipv6_dstopt(src="fe80::2", dst="fe80::5054:ff:fe12:3456", opt_type=0x1E, opt_len=0, nh=59, payload=b"",
                sport=40000, dport=7):
    """An IPv6 packet with a Destination Options header holding an unknown
    option (type opt_type, default 0x1e: experimental, action bits 00 = skip)
    of opt_len data bytes; opt_len 0 is the CVE-2023-45232 (EDK2 Ip6Dxe,
    PixieFail) trigger. nh: next header after it (59: none, 17: UDP with
    `payload` from sport to dport)."""
    opt = HBHOptUnknown(otype=opt_type, optlen=opt_len, optdata=b"\xaa" * opt_len)
    if nh == 17:
        return IPv6(src=src, dst=dst) / IPv6ExtHdrDestOpt(options=[opt]) / UDP(sport=sport, dport=dport) / Raw(payload)
    pkt = IPv6(src=src, dst=dst) / IPv6ExtHdrDestOpt(nh=nh, options=[opt])
    return pkt / Raw(payload) if payload else pkt


@template("pxe6-advertise", solicit=_bytes, ia_len=_int, server_id_len=_int, dns_len=_int, proxy=_bool,
          boot_url=_str, preferred=_int, valid=_int, msgtype=_int)
def pxe6_advertise(solicit, src="fe80::5055:aff:fe00:202", address="fd00:0:0:2::150", preferred=3600, valid=7200,
                   boot_url="tftp://[fd00:0:0:2::2]/fwnet-none.efi", ia_len=None, server_id_len=None, dns_len=None,
                   proxy=False, msgtype=2, src_mac="52:55:0a:00:02:02", dst_mac=None):
    """A DHCPv6 ADVERTISE answering a PXE client's SOLICIT (`solicit`: the
    whole matched frame, `{match}`): its transaction id, Client ID and
    IA_NA IAID echoed, a Boot File URL (option 59) and a DNS Servers option,
    sent to the client's link-local address and MAC. The PixieFail variants:
    ia_len=N an IA_NA option whose length field is N (< 12: CVE-2023-45229's
    short IA), server_id_len=N a Server ID of N DUID bytes (CVE-2023-45230,
    -45235 with proxy), dns_len=N a DNS Servers option of N bytes
    (CVE-2023-45234; not a multiple of 16 or over 16 addresses), proxy=true
    no IA_NA at all (a proxy offer: boot information only). msgtype=7: the
    same options as a REPLY (answer the client's REQUEST with it)."""
    import struct
    from scapy.layers.l2 import Ether as _E
    sol = _E(solicit)
    ip6, udp = sol.getlayer(IPv6), sol.getlayer(UDP)
    if ip6 is None or udp is None or len(bytes(udp.payload)) < 4:
        raise CraftError("template pxe6-advertise: solicit is not a DHCPv6 message: %s" % sol.summary(),
                         "pxe6-advertise", "solicit")
    msg = bytes(udp.payload)
    trid = msg[1:4]
    opts, off = {}, 4
    while off + 4 <= len(msg):
        code, ln = struct.unpack("!HH", msg[off:off + 4])
        opts.setdefault(code, msg[off + 4:off + 4 + ln])
        off += 4 + ln

    def opt(code, data, length=None):
        return struct.pack("!HH", code, len(data) if length is None else length) + data

    client_id = opts.get(1, b"")
    iaid = opts.get(3, b"\x00\x00\x00\x01")[:4]
    import ipaddress
    if server_id_len is None:
        sid = b"\x00\x03\x00\x01" + bytes(int(x, 16) for x in src_mac.split(":"))  # DUID-LL
    else:
        sid = (b"\x00\x02\x00\x00\x00\x09" + b"fwnet-long-server-id" * 4000)[:server_id_len]  # DUID-EN, padded
    body = opt(1, client_id) + opt(2, sid)
    if not proxy:
        iaaddr = opt(5, ipaddress.IPv6Address(address).packed + struct.pack("!II", preferred, valid))
        ia = iaid + struct.pack("!II", preferred // 2, preferred * 4 // 5) + iaaddr
        body += opt(3, ia, ia_len) if ia_len is None or ia_len >= len(ia) else opt(3, ia[:ia_len], ia_len)
    if dns_len is None:
        body += opt(23, ipaddress.IPv6Address("fd00:0:0:2::3").packed)
    else:
        body += opt(23, (ipaddress.IPv6Address("fd00:0:0:2::3").packed * (dns_len // 16 + 1))[:dns_len])
    if boot_url:  # "": no Boot File URL (an address-only offer, beside a proxy's)
        body += opt(59, boot_url.encode())
    dhcp = bytes([msgtype]) + trid + body
    pkt = (IPv6(src=src, dst=ip6.src) / UDP(sport=547, dport=udp.sport) / Raw(dhcp))
    return bytes(Ether(src=src_mac, dst=sol.src if dst_mac in (None, GUEST_MAC) else dst_mac) / pkt)


# ---------------------------------------------------------------- raw scapy expressions

def _layer_namespace():
    ns = {}
    for mod in (_l2, _inet, _inet6, _dns, _m_dhcp, _dhcp6):
        for k, v in vars(mod).items():
            if isinstance(v, type) and issubclass(v, Packet) and not k.startswith("_"):
                ns[k] = v
    ns.update(Raw=Raw, Padding=Padding)
    return ns


LAYERS = _layer_namespace()
_ALLOWED_NODES = (ast.Expression, ast.BinOp, ast.Call, ast.keyword, ast.Constant, ast.Name, ast.Load, ast.List,
                  ast.Tuple, ast.UnaryOp, ast.USub, ast.Div, ast.Add, ast.Sub, ast.Mult, ast.BitOr, ast.LShift)


@template("raw", expr=_str)
def raw(expr, src_mac=GATEWAY_MAC, dst_mac=GUEST_MAC):
    """A scapy expression over scapy's layer classes only, e.g.
    'IP(src="10.0.2.2", dst="10.0.2.15")/UDP(dport=7)/Raw(b"x")': no
    builtins, no attributes, no other names. Without an Ether layer one is
    put in front (src_mac, dst_mac)."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as e:
        raise CraftError("template raw: expr does not parse: %s" % e, "raw", "expr")
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise CraftError("template raw: %s not allowed in expr (only layer calls, constants, / + * |)"
                             % type(node).__name__, "raw", "expr")
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and abs(node.value) > 1 << 32:
            raise CraftError("template raw: number %d too large" % node.value, "raw", "expr")
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.LShift)) and any(
                isinstance(x, ast.Constant) and isinstance(x.value, int) and x.value > 65535
                for x in (node.left, node.right)):
            raise CraftError("template raw: repetition beyond 65535 in expr", "raw", "expr")
        if isinstance(node, ast.Name) and node.id not in LAYERS:
            raise CraftError("template raw: name %r is not a scapy layer" % node.id, "raw", "expr")
    try:
        pkt = eval(compile(tree, "<raw>", "eval"), {"__builtins__": {}}, dict(LAYERS))
    except Exception as e:
        raise CraftError("template raw: %s: %s" % (type(e).__name__, e), "raw", "expr")
    if not isinstance(pkt, Packet):
        raise CraftError("template raw: expr gives %s, not a packet" % type(pkt).__name__, "raw", "expr")
    if not isinstance(pkt, Ether):
        pkt = Ether(src=src_mac, dst=dst_mac) / pkt
    return bytes(pkt)
