"""The lan network end to end without QEMU: run as a script (by test_lan.py)
in a fresh network namespace. A fake guest speaks QEMU's -netdev stream
framing on netsim's LAN socket; the far side is the tap and the namespace's
real Linux stack. Prints one JSON object of findings."""
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from fwnet import isolation, lannet  # noqa: E402
from fwnet.netsimproc import Netsim  # noqa: E402
from scapy.layers.l2 import Ether, ARP  # noqa: E402
from scapy.layers.inet import IP, TCP, UDP, ICMP, IPerror  # noqa: E402
from scapy.layers.inet6 import IPv6, ICMPv6ND_RS, ICMPv6ND_RA, ICMPv6NDOptPrefixInfo  # noqa: E402
from scapy.layers.dhcp import BOOTP, DHCP  # noqa: E402
from scapy.layers.dns import DNS, DNSQR  # noqa: E402

MAC = "52:54:00:12:34:56"
ME = "10.0.2.15"


class FakeGuest:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.buf = b""
        self.got = []
        self.lock = threading.Lock()
        threading.Thread(target=self._rx, daemon=True).start()

    def send(self, pkt):
        b = bytes(pkt)
        self.s.sendall(struct.pack(">I", len(b)) + b)

    def _rx(self):
        while True:
            try:
                d = self.s.recv(65536)
            except OSError:
                return
            if not d:
                return
            self.buf += d
            while len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) < 4 + n:
                    break
                f, self.buf = Ether(self.buf[4:4 + n]), self.buf[4 + n:]
                if ARP in f and f[ARP].op == 1 and f[ARP].pdst == ME:  # answer for our address
                    self.send(Ether(dst=f.src, src=MAC) / ARP(op=2, hwsrc=MAC, psrc=ME, hwdst=f.src, pdst=f[ARP].psrc))
                with self.lock:
                    self.got.append(f)

    def wait(self, pred, timeout=5):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                for f in self.got:
                    if pred(f):
                        return f
            time.sleep(0.02)
        return None


def main():
    mode, why = isolation.enter()
    out = {"isolation": mode, "ifs_before": isolation.interfaces()}
    ok, out["probe"] = lannet.probe(mode)
    if not ok:
        print(json.dumps(out))
        return
    rd = tempfile.mkdtemp(prefix="fwnet-lan-e2e-")
    lan = lannet.Lan(rd).up()
    out["tap"] = lan.tap
    ns = Netsim(rd, 1, [], [], uplink_tap=lan.tap)
    lan.dhcp_up()
    dnstcp = lannet.DnsTcp(ns.ctl)
    out["ifs_up"] = isolation.interfaces()
    try:
        g = FakeGuest(ns.lan_sock)
        gw_mac = lannet.TAP_MAC
        # DHCPv4 from dnsmasq, through the hub
        xid = 0x1234
        disc = (Ether(src=MAC, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255") /
                UDP(sport=68, dport=67) / BOOTP(chaddr=bytes.fromhex(MAC.replace(":", "")), xid=xid, flags=0x8000) /
                DHCP(options=[("message-type", "discover"), "end"]))
        g.send(disc)
        offer = g.wait(lambda f: BOOTP in f and f[BOOTP].xid == xid and f[BOOTP].op == 2, 10)
        if offer:
            opts = {o[0]: o[1:] for o in offer[DHCP].options if isinstance(o, tuple)}
            out["dhcp"] = {"yiaddr": offer[BOOTP].yiaddr, "router": list(opts.get("router", [])),
                           "dns": list(opts.get("name_server", [])), "type": opts.get("message-type", [None])[0]}
        # a TCP SYN to a closed port on the gateway: a real RST
        g.send(Ether(src=MAC, dst=gw_mac) / IP(src=ME, dst=lannet.GW) / TCP(sport=40000, dport=1, flags="S", seq=1))
        r = g.wait(lambda f: TCP in f and f[TCP].dport == 40000 and f[TCP].flags & 0x04)
        out["rst"] = bool(r)
        # a reset by a Linux socket (SO_LINGER 0) after connect
        ls = socket.socket()
        ls.bind((lannet.GW, 0))
        ls.listen(1)
        port = ls.getsockname()[1]
        g.send(Ether(src=MAC, dst=gw_mac) / IP(src=ME, dst=lannet.GW) / TCP(sport=40001, dport=port, flags="S", seq=100))
        sa = g.wait(lambda f: TCP in f and f[TCP].dport == 40001 and f[TCP].flags & 0x12 == 0x12)
        if sa:
            g.send(Ether(src=MAC, dst=gw_mac) / IP(src=ME, dst=lannet.GW) /
                   TCP(sport=40001, dport=port, flags="A", seq=101, ack=sa[TCP].seq + 1))
            c, _ = ls.accept()
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
            out["linger_rst"] = bool(g.wait(lambda f: TCP in f and f[TCP].dport == 40001 and f[TCP].flags & 0x04))
        ls.close()
        # UDP: unicast echo and a broadcast from the namespace
        us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        us.bind((lannet.GW, 0))
        us.settimeout(3)
        g.send(Ether(src=MAC, dst=gw_mac) / IP(src=ME, dst=lannet.GW) / UDP(sport=5000, dport=us.getsockname()[1]) /
               b"hello")
        try:
            d, a = us.recvfrom(100)
            out["udp_in"] = [d.decode(), a[0]]
            us.sendto(b"back", a)
            out["udp_back"] = bool(g.wait(lambda f: UDP in f and f[UDP].dport == 5000 and bytes(f[UDP].payload) == b"back"))
        except socket.timeout:
            out["udp_in"] = None
        bs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        bs.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        bs.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, lan.tap.encode())
        bs.sendto(b"bcast", ("10.0.2.255", 5001))
        out["udp_broadcast"] = bool(g.wait(lambda f: UDP in f and f[UDP].dport == 5001 and f[IP].dst == "10.0.2.255"))
        # ICMP: host unreachable for the unreachable route, net unreachable without a route
        g.send(Ether(src=MAC, dst=gw_mac) / IP(src=ME, dst=lannet.HOST_UNREACHABLE_ADDR) / TCP(sport=40002, dport=9, flags="S"))
        r = g.wait(lambda f: ICMP in f and f[ICMP].type == 3 and IPerror in f[ICMP].payload and
                   f[ICMP].payload[IPerror].dst == lannet.HOST_UNREACHABLE_ADDR)
        out["icmp_unreachable"] = r[ICMP].code if r else None
        g.send(Ether(src=MAC, dst=gw_mac) / IP(src=ME, dst=lannet.BLACKHOLE_ADDR) / TCP(sport=40003, dport=9, flags="S"))
        r = g.wait(lambda f: ICMP in f and f[ICMP].type == 3 and IPerror in f[ICMP].payload and
                   f[ICMP].payload[IPerror].dst == lannet.BLACKHOLE_ADDR)
        out["icmp_no_route"] = r[ICMP].code if r else None
        # a peer off the subnet, reached through the gateway
        g.send(Ether(src=MAC, dst=gw_mac) / IP(src=ME, dst=lannet.FAR_ADDR) / TCP(sport=40004, dport=1, flags="S"))
        out["far_rst"] = bool(g.wait(lambda f: TCP in f and f[TCP].dport == 40004 and f[TCP].flags & 0x04))
        # DNS over UDP: the scripted zone answers, nothing reaches the tap's port 53
        ns.ctl("dns add peer.test 10.0.2.100")
        g.send(Ether(src=MAC, dst=gw_mac) / IP(src=ME, dst=lannet.DNS) / UDP(sport=5353, dport=53) /
               DNS(id=77, rd=1, qd=DNSQR(qname="peer.test")))
        r = g.wait(lambda f: DNS in f and f[DNS].id == 77 and f[DNS].qr == 1)
        out["dns_udp"] = r[DNS].an.rdata if r and r[DNS].an else None
        # DNS over TCP: the listener on 10.0.2.3:53 answers from the zone (dns answer)
        g.send(Ether(src=MAC, dst=gw_mac) / IP(src=ME, dst=lannet.DNS) / TCP(sport=40005, dport=53, flags="S"))
        out["dns_tcp_synack"] = bool(g.wait(lambda f: TCP in f and f[TCP].dport == 40005 and f[TCP].flags & 0x12 == 0x12))
        c = socket.create_connection((lannet.DNS, 53), timeout=5)
        q = bytes(DNS(id=78, rd=1, qd=DNSQR(qname="peer.test")))
        c.sendall(len(q).to_bytes(2, "big") + q)
        n = int.from_bytes(c.recv(2), "big")
        a = b""
        while len(a) < n:
            a += c.recv(n - len(a))
        c.close()
        out["dns_tcp"] = DNS(a).an.rdata if DNS(a).an else None
        # IPv6: a router solicitation, answered by dnsmasq's RA with the ULA prefix
        g.send(Ether(src=MAC, dst="33:33:00:00:00:02") / IPv6(src="fe80::5054:ff:fe12:3456", dst="ff02::2") / ICMPv6ND_RS())
        r = g.wait(lambda f: ICMPv6ND_RA in f, 10)
        out["ra_prefix"] = r[ICMPv6NDOptPrefixInfo].prefix if r and ICMPv6NDOptPrefixInfo in r else None
        # capture rotation, and an injected frame: to the guest, never onto the tap
        cap_a, cap_b = os.path.join(rd, "a.pcap"), os.path.join(rd, "b.pcap")
        ns.ctl("capture " + cap_a)
        g.send(Ether(src=MAC, dst=gw_mac) / IP(src=ME, dst=lannet.GW) / UDP(sport=6001, dport=9) / b"in-a")
        time.sleep(0.3)
        ns.ctl("capture " + cap_b)
        before = ns.ctl("counters")
        frame = Ether(src=gw_mac, dst=MAC) / IP(src=lannet.GW, dst=ME) / UDP(sport=7, dport=6002) / b"crafted"
        out["inject"] = ns.ctl("inject uplink " + bytes(frame).hex())
        out["injected_seen"] = bool(g.wait(lambda f: UDP in f and f[UDP].dport == 6002))
        after = ns.ctl("counters")
        tap_in = lambda line: int(line.split("tap_in=")[1].split()[0])  # noqa: E731
        out["inject_tap_in_delta"] = tap_in(after) - tap_in(before)
        g.send(Ether(src=MAC, dst=gw_mac) / IP(src=ME, dst=lannet.GW) / UDP(sport=6003, dport=9) / b"in-b")
        time.sleep(0.3)
        ns.ctl("capture %s append=1" % os.path.join(rd, "netsim.pcap"))

        def ports(p):
            r = subprocess.run(["tcpdump", "-n", "-r", p, "udp"], capture_output=True, text=True)
            return r.returncode, [x for x in ("6001", "6002", "6003") if ".%s:" % x in r.stdout or ".%s " % x in r.stdout]
        out["cap_a"], out["cap_b"] = ports(cap_a), ports(cap_b)
        out["counters"] = after
    finally:
        dnstcp.stop()
        ns.stop()
        lan.down()
    out["ifs_after"] = isolation.interfaces()
    out["routes_after"] = subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True,
                                         text=True).stdout.split("\n")
    out["lo_addrs_after"] = subprocess.run(["ip", "-4", "addr", "show", "dev", "lo"], capture_output=True,
                                           text=True).stdout
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
