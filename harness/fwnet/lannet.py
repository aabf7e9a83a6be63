"""--net lan: fwnet-netsim's LAN with a real TCP/IP stack on its far side.

netsim keeps its switch, impairments, rules, scripted DNS and capture; its
far side is a tap device in fwnet's own network namespace (`--uplink-tap`),
so the guests' peers are ordinary Linux sockets there: real RSTs, real UDP
(unicast and broadcast), ICMP unreachable, IPv6 on the same LAN. DHCPv4,
DHCPv6 and router advertisements come from Debian's dnsmasq on that tap
(DNS off: netsim's scripted zone keeps 10.0.2.3:53/udp; TCP/53 is answered
here from the zone through netsim's `dns answer`).

The namespace side of the tap (Lan.up, all removed again by Lan.down):
  10.0.2.2/24   the gateway, where host peers bind (no guestfwd relays)
  10.0.2.3/24   the DNS address (ARP; TCP/53 listener)
  fd00:0:0:2::2/64 (+ link-local)   IPv6: RA and DHCPv6 from dnsmasq
  10.1.0.2/32 on lo                 an off-subnet peer address, via the gateway
  unreachable 10.99.0.0/16          ICMP host unreachable from the kernel
  (no default route)                ICMP net unreachable for anything else
                                    off-subnet: the `blackhole` peer, 10.98.0.1
IPv4 forwarding is on in the namespace (its own sysctl), so the kernel
answers for routes it cannot use. Names are unique per QEMU instance:
fwl<pid>-<n> (<= 15 characters); with --jobs N each shard moves its thread
into a network namespace of its own (the same addresses on every shard).

Safety (network-safety.md): the tap lives only in a namespace fwnet made;
dnsmasq binds only the tap; listeners bind only the tap's addresses; frames
injected "from the uplink" never reach the tap (netsim keeps them on the LAN).
"""
import atexit
import itertools
import os
import socket
import subprocess
import threading
import time

from . import build, isolation, qemu
from .backend import BackendError
from .netsimproc import Netsim, NetsimNet

GUEST, GW, DNS = "10.0.2.15", "10.0.2.2", "10.0.2.3"
GW6, PREFIX6 = "fd00:0:0:2::2", "fd00:0:0:2::"
FAR_ADDR = "10.1.0.2"        # an off-subnet peer address (on lo), reached via the gateway
UNREACHABLE_NET = "10.99.0.0/16"
HOST_UNREACHABLE_ADDR = "10.99.0.1"  # ICMP host unreachable (the unreachable route)
BLACKHOLE_ADDR = "10.98.0.1"  # no route: ICMP net unreachable from the namespace's kernel
TAP_MAC = "52:55:0a:00:02:02"
GUEST_MACS = ["52:54:00:12:34:%02x" % (0x56 + k) for k in range(8)]  # qemubackend's, guest k+1
DNSMASQ = "/usr/sbin/dnsmasq"

_lans = set()  # LANs up in this process: undone at exit whatever happened


@atexit.register
def _down_all():
    for lan in list(_lans):
        lan.down()


_names = itertools.count()
_names_lock = threading.Lock()


def unique_name(prefix="fwl"):
    """An interface name unique to this run and QEMU instance (<= 15 chars)."""
    with _names_lock:
        n = next(_names)
    name = "%s%x-%d" % (prefix, os.getpid(), n)
    assert len(name) <= 15, name
    return name


def _ip(*a, check=True):
    r = subprocess.run(["ip"] + list(a), capture_output=True, text=True)
    if r.returncode and check:
        raise BackendError("ip %s: %s" % (" ".join(a), r.stderr.strip()))
    return r


def _sysctl(path, value):
    with open(os.path.join("/proc/sys", path), "w") as f:
        f.write(value)


def netsim_has_uplink(exe=None):
    exe = exe or build.tool_path("netsim", "fwnet-netsim")
    try:
        with open(exe, "rb") as f:
            return b"--uplink-tap" in f.read()
    except OSError:
        return False


def probe(isolation_mode):
    """(ok, why): whether a tap can be made in fwnet's namespace, said the
    way every report says it. Makes one tap and deletes it again."""
    if isolation_mode != "netns":
        return False, "no network namespace of fwnet's own (isolation %s)" % isolation_mode
    if not os.path.exists("/dev/net/tun"):
        return False, "no /dev/net/tun"
    rootless = _in_user_namespace()
    if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        return False, ("no access to /dev/net/tun in fwnet's user namespace (a rootless lan needs it readable "
                       "and writable, e.g. mode 0666)" if rootless else "no access to /dev/net/tun")
    if not os.access(DNSMASQ, os.X_OK):
        return False, "no %s (Debian package dnsmasq-base)" % DNSMASQ
    exe = build.tool_path("netsim", "fwnet-netsim")
    if not os.path.exists(exe):
        return False, "fwnet-netsim not built (%s)" % exe
    if not netsim_has_uplink(exe):
        return False, "fwnet-netsim has no --uplink-tap (rebuild it)"
    name = unique_name("fwp")
    r = _ip("tuntap", "add", "dev", name, "mode", "tap", check=False)
    if r.returncode:
        err = r.stderr.strip() or "status %d" % r.returncode
        return False, "cannot create a tap in fwnet's namespace (%s): no CAP_NET_ADMIN there" % err
    _ip("link", "del", name, check=False)
    who = "rootless: CAP_NET_ADMIN in fwnet's user namespace" if rootless else "root"
    return True, "tap allowed in fwnet's namespace (%s)" % who


def _in_user_namespace():
    """Whether this process runs in a user namespace of its own (fwnet's
    rootless isolation): its uid map is not the initial identity map."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() != ["0", "0", "4294967295"]
    except OSError:
        return False


def choose(net, isolation_mode):
    """--net auto: lan when a tap may be made here, else slirp. Returns
    (net, why) for every report."""
    if net != "auto":
        return net, "--net %s given" % net
    ok, why = _probe_cached(isolation_mode)
    return ("lan", "lan: " + why) if ok else ("slirp", "slirp: " + why + "; QEMU's user network (restrict=on)")


class Lan:
    """The namespace side of one LAN: the tap, its addresses, routes and
    sysctls, and dnsmasq; everything it made is undone by down(), on every
    path (a failure half-way undoes what was done)."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.tap = unique_name()
        self.undo = []  # callables, last first
        self.dnsmasq = None

    def up(self):
        try:
            _ip("tuntap", "add", "dev", self.tap, "mode", "tap")
            _lans.add(self)
            self.undo.append(lambda: _ip("link", "del", self.tap, check=False))
            _ip("link", "set", self.tap, "address", TAP_MAC)
            _sysctl("net/ipv6/conf/%s/accept_dad" % self.tap, "0")
            _sysctl("net/ipv6/conf/%s/disable_ipv6" % self.tap, "0")
            _ip("addr", "add", GW + "/24", "dev", self.tap)
            _ip("addr", "add", DNS + "/24", "dev", self.tap)
            _ip("-6", "addr", "add", GW6 + "/64", "dev", self.tap, "nodad")
            _ip("link", "set", self.tap, "up")
            _ip("addr", "add", FAR_ADDR + "/32", "dev", "lo")
            self.undo.append(lambda: _ip("addr", "del", FAR_ADDR + "/32", "dev", "lo", check=False))
            _ip("route", "add", "unreachable", UNREACHABLE_NET)
            self.undo.append(lambda: _ip("route", "del", "unreachable", UNREACHABLE_NET, check=False))
            old = open("/proc/sys/net/ipv4/ip_forward").read().strip()
            _sysctl("net/ipv4/ip_forward", "1")
            self.undo.append(lambda: _sysctl("net/ipv4/ip_forward", old))
        except (BackendError, OSError) as e:
            self.down()
            raise BackendError("lan: %s (nothing left configured)" % e)
        return self

    def dhcp_up(self):
        """dnsmasq on the tap only: DHCPv4 (the guests' fixed addresses by
        MAC), RA and DHCPv6 on the ULA; DNS off (port 0)."""
        rd = self.run_dir
        cmd = [DNSMASQ, "--keep-in-foreground", "--port=0", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
               "--interface=" + self.tap, "--bind-interfaces", "--except-interface=lo", "--user=root",
               "--dhcp-authoritative", "--no-ping",
               "--dhcp-range=10.0.2.15,10.0.2.99,255.255.255.0,1h",
               "--dhcp-option=option:router," + GW, "--dhcp-option=option:dns-server," + DNS,
               "--enable-ra", "--dhcp-range=%s100,%s1ff,64,1h" % (PREFIX6, PREFIX6),
               "--dhcp-leasefile=" + os.path.join(rd, "dnsmasq.leases"),
               "--pid-file=" + os.path.join(rd, "dnsmasq.pid"),
               "--log-facility=" + os.path.join(rd, "dnsmasq-dhcp.log"), "--log-dhcp"]
        for k, mac in enumerate(GUEST_MACS[:4]):
            cmd.append("--dhcp-host=%s,10.0.2.%d" % (mac, 15 + k))
        # a process group of its own, stopped with QEMU and netsim on every
        # exit path (qemu.Qemu.stop_all at exit and on Ctrl-C); writes
        # dnsmasq.cmdline, its output to dnsmasq.log
        self.dnsmasq = qemu.Qemu(cmd, rd, name="dnsmasq")
        deadline = time.monotonic() + 5
        while not os.path.exists(os.path.join(rd, "dnsmasq.pid")):
            if not self.dnsmasq.alive() or time.monotonic() > deadline:
                why = self.dnsmasq.exit_reason()
                self.dhcp_down()
                raise BackendError("dnsmasq did not start: %s" % why)
            time.sleep(0.02)

    def dhcp_down(self):
        p, self.dnsmasq = self.dnsmasq, None
        if p:
            p.stop(grace=0)
        try:
            os.unlink(os.path.join(self.run_dir, "dnsmasq.pid"))
        except OSError:
            pass

    def down(self):
        self.dhcp_down()
        _lans.discard(self)
        while self.undo:
            try:
                self.undo.pop()()
            except (BackendError, OSError):
                pass


class DnsTcp:
    """10.0.2.3:53/tcp in the namespace: each query (2-byte length, then
    the message) answered from netsim's zone through `dns answer HEX`."""

    def __init__(self, ctl, addr=(DNS, 53)):
        self.ctl = ctl
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(addr)
        self.ls.listen(8)
        self.ls.settimeout(0.2)
        self.stopped = threading.Event()
        self.errors = []
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopped.is_set():
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(10)
        buf = b""
        try:
            while True:
                d = c.recv(4096)
                if not d:
                    return
                buf += d
                while len(buf) >= 2 and len(buf) >= 2 + (buf[0] << 8 | buf[1]):
                    n = buf[0] << 8 | buf[1]
                    q, buf = buf[2:2 + n], buf[2 + n:]
                    r = self.ctl("dns answer " + q.hex())
                    ans = bytes.fromhex(r[3:]) if len(r) > 3 else b""
                    if ans:  # nothing: the zone drops this query
                        c.sendall(len(ans).to_bytes(2, "big") + ans)
        except (OSError, BackendError, ValueError) as e:
            if not self.stopped.is_set():
                self.errors.append(str(e))
        finally:
            c.close()

    def stop(self):
        """Release 10.0.2.3:53 before returning: a listener still held by the
        accept thread's poll() would keep the port bound after the tap's
        address is gone, and the next LAN of this process (fwnet bugs runs
        one per firmware) would fail to bind it."""
        self.stopped.set()
        try:
            self.ls.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(timeout=2)
        self.ls.close()


class Forward:
    """An image peer (a QEMU of its own, forwarded to 127.0.0.1) made
    reachable on the gateway address: GW:port -> 127.0.0.1:target."""

    def __init__(self, target):
        self.target = target
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((GW, 0))
        self.ls.listen(8)
        self.port = self.ls.getsockname()[1]
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            except OSError:
                c.close()
                continue
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    b.shutdown(socket.SHUT_WR)
                    return
                b.sendall(d)
        except OSError:
            pass

    def stop(self):
        self.ls.close()


class LanNet(NetsimNet):
    """--net lan: the guests on netsim's LAN, whose far side is fwnet's
    namespace: peers on 10.0.2.2, DHCP and RA from dnsmasq, a capture per
    scenario."""
    name = "lan"
    addrs = (GUEST, GW, DNS)
    peer_bind = GW

    def __init__(self, opts, extra):
        super().__init__(opts, extra)
        self.lan = None
        self.dnstcp = None
        self.forwards = {}
        self.run_dir = None
        self.captures = {}
        self.current = None
        self.dhcp_off = False
        self.netns = None

    def supports(self, base):
        return base | {"netsim", "guests:2", "udp", "peer:udpecho", "routing", "peer:blackhole"}

    def precondition(self):
        ok, why = _probe_cached(getattr(self.opts, "isolation", "netns"))
        return None if ok else "a tap in fwnet's namespace (--net lan): " + why

    def lacks(self, sc):
        return []

    def up(self, run_dir):
        self.run_dir = run_dir
        if threading.current_thread() is not threading.main_thread():
            # a --jobs shard: a network namespace of its own for this thread
            # (the same addresses on every shard, no clash)
            try:
                self.netns = isolation.enter_thread_netns()
            except OSError as e:
                raise BackendError("lan: no network namespace for this shard: %s" % e)
        before = set(isolation.interfaces())
        self.lan = Lan(run_dir).up()
        ifs = set(isolation.interfaces())
        self.extra["lan"] = {"tap": self.lan.tap, "interfaces": sorted(ifs), "netns": self.netns or "fwnet's own"}
        stray = ifs - before - {self.lan.tap}
        if stray or not before <= {"lo"} | _siblings():
            self.down()
            raise BackendError("lan: the namespace holds interfaces this run did not make: %s"
                               % ", ".join(sorted((ifs - {"lo", self.lan.tap}) - _siblings())))
        _register(self.lan.tap)
        try:
            self.dnstcp = DnsTcp(self.ctl)
        except OSError as e:
            self.down()
            raise BackendError("lan: DNS over TCP on %s:53: %s" % (DNS, e))

    def lan_up(self, run_dir, guestfwds, hostfwds):
        if self.netsim:  # a second boot (KVM fell back to TCG): a fresh LAN
            self.lan_down()
        self.netsim = Netsim(run_dir, self.opts.seed, [], [], uplink_tap=self.lan.tap)
        try:
            self.lan.dhcp_up()
        except BackendError:
            self.netsim.stop()
            self.netsim = None
            raise
        os.makedirs(os.path.join(run_dir, "captures"), exist_ok=True)
        return self.netsim.lan_sock

    def peer_addr(self, sc, name, hostpeer, fwd_port):
        kind = sc.peers[name].kind
        if kind == "blackhole":
            return BLACKHOLE_ADDR, 9
        if kind.startswith("rump-"):  # an image peer on loopback: forwarded to the gateway address
            f = self.forwards.get(hostpeer.port)
            if not f:
                f = self.forwards[hostpeer.port] = Forward(hostpeer.port)
            return GW, f.port
        return GW, hostpeer.port  # right there, on the namespace side of the tap

    def peer_action(self, sc, name, hostpeer, action, fwd_port):
        hostpeer.action(action, sc.peers[name].port, GUEST)

    # ---- captures and crafted frames (the wire steps use these) ----

    def begin(self, sc):
        path = os.path.join(self.run_dir, "captures", sc.name + ".pcap")
        self.ctl("capture " + path)
        self.captures[sc.name] = self.current = path
        if (getattr(sc, "netsim", {}) or {}).get("dhcp", True) is False:
            self.lan.dhcp_down()  # `[netsim] dhcp = false`: the scenario is the LAN's DHCP server
            self.dhcp_off = True
        super().begin(sc)

    def end(self, sc):
        super().end(sc)
        self.ctl("capture %s append=1" % os.path.join(self.run_dir, "netsim.pcap"))  # between scenarios
        self.current = None
        if self.dhcp_off:
            self.dhcp_off = False
            self.lan.dhcp_up()

    def live_capture_path(self):
        """The running scenario's pcap, written as frames cross (call
        flush_capture() before reading it), or None between scenarios."""
        return self.current

    def flush_capture(self):
        self.ctl("flush")

    def peers_done(self, sc, forwards):
        """A real stack holds a connection to a peer that never reads (stall)
        until someone closes it: the scenario's host peers close now (the
        kernel resets what is unread), so nothing leaks into the next one."""
        for (name, _), hp in list(forwards.hostpeers.items()):
            if name == sc.name and not sc.peers[_].kind.startswith("rump-"):
                hp.stop()

    def capture_path(self, sc):
        """The scenario's own pcap (complete once it ended), or None."""
        return self.captures.get(sc.name)

    def inject(self, frame, link=None):
        """One Ethernet frame onto the LAN: from the far side (link None:
        to the guests, never onto the tap) or as if guest port `link` sent it."""
        return self.ctl("inject %s %s" % ("uplink" if link is None else "link=%d" % link, bytes(frame).hex()))

    def lan_down(self):
        if self.lan:
            self.lan.dhcp_down()
        super().lan_down()
        self.netsim = None

    def down(self):
        for f in self.forwards.values():
            f.stop()
        self.forwards = {}
        if self.dnstcp:
            self.extra.setdefault("lan_dns_tcp_errors", []).extend(self.dnstcp.errors)
            self.dnstcp.stop()
            self.dnstcp = None
        if self.lan:
            self.lan.down()
            _unregister(self.lan.tap)
            self.lan = None


# taps of this process's LANs (other --jobs shards' live in their own
# namespaces, but the names are listed here for the interface check)
_live = set()
_live_lock = threading.Lock()


def _register(name):
    with _live_lock:
        _live.add(name)


def _unregister(name):
    with _live_lock:
        _live.discard(name)


def _siblings():
    with _live_lock:
        return set(_live)


_probe = {}


def _probe_cached(mode):
    if mode not in _probe:
        _probe[mode] = probe(mode)
    return _probe[mode]

