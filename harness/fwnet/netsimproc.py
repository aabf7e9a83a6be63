"""fwnet-netsim as the guests' LAN (--net netsim): the process, its control
socket, and what every scenario asks of it (a clean link, then the
scenario's impairments, rules and DNS records; counters at its end).

netsim forwards to the host peers itself (--guestfwd/--hostfwd, through
relay.py to 127.0.0.1), so peers are addressed as on slirp.
"""
import os
import socket
import threading
import time

from . import build, qemu
from .backend import BackendError
from .guestnet import SlirpNet


class Netsim:
    """A running fwnet-netsim (a process group of its own, like QEMU)."""

    def __init__(self, run_dir, seed, guestfwds, hostfwds, uplink_tap=None):
        exe = build.tool_path("netsim", "fwnet-netsim")
        if not os.path.exists(exe):
            raise BackendError("fwnet-netsim not built: %s" % exe)
        self.lan_sock, self.ctl_sock = os.path.join(run_dir, "lan.sock"), os.path.join(run_dir, "netsim.ctl")
        for p in (self.lan_sock, self.ctl_sock):
            if os.path.exists(p):
                os.unlink(p)
        cmd = [exe, "--lan", self.lan_sock, "--control", self.ctl_sock, "--pcap", os.path.join(run_dir, "netsim.pcap"),
               "--seed", str(seed)]
        # the far side: a tap in fwnet's namespace (lannet.py), or slirp with forwards
        cmd += ["--uplink-tap", uplink_tap] if uplink_tap else ["--relay", os.path.join(qemu.HERE, "relay.py")]
        for gp, hp in guestfwds:
            cmd += ["--guestfwd", "%d:%d" % (gp, hp)]
        for hp, gp in hostfwds:
            cmd += ["--hostfwd", "%d:%d" % (hp, gp)]
        self.proc = qemu.Qemu(cmd, run_dir, name="netsim")
        deadline = time.monotonic() + 10
        while not (os.path.exists(self.lan_sock) and os.path.exists(self.ctl_sock)):
            if not self.proc.alive():
                raise BackendError(self.proc.exit_reason())
            if time.monotonic() > deadline:
                raise BackendError("fwnet-netsim did not start")
            time.sleep(0.02)

    def ctl(self, line):
        """One control command; its reply line."""
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(5)
        c.connect(self.ctl_sock)
        c.sendall(line.encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            d = c.recv(65536)
            if not d:
                break
            buf += d
        c.close()
        r = buf.decode().strip()
        if not r.startswith("ok"):
            raise BackendError("netsim %r: %s" % (line, r))
        return r

    def stop(self):
        try:
            self.ctl("stop")
        except (BackendError, OSError):
            pass
        self.proc.stop(grace=2)


class NetsimNet(SlirpNet):
    """--net netsim: the guests on fwnet-netsim's LAN; addressing and peer
    forwards as on slirp, plus impairments, rules, DNS and a second guest."""
    name = "netsim"

    def __init__(self, opts, extra):
        super().__init__(opts, extra)
        self.netsim = None
        self.timers = []

    def supports(self, base):
        return base | {"netsim", "guests:2"}

    def lan_up(self, run_dir, guestfwds, hostfwds):
        if self.netsim:  # a second boot (KVM fell back to TCG): a fresh LAN
            self.netsim.stop()
        self.netsim = None
        self.netsim = Netsim(run_dir, self.opts.seed, guestfwds, hostfwds)
        return self.netsim.lan_sock

    def qemu_opts(self):
        return {"lan_sock": self.netsim.lan_sock}

    def ctl(self, line):
        if not self.netsim:
            raise BackendError("no fwnet-netsim running (--net netsim)")
        return self.netsim.ctl(line)

    def later(self, delay_s, line):
        """A control command in the background, while a step runs."""
        t = threading.Timer(delay_s, self._ctl_quiet, args=(line,))
        t.daemon = True
        t.start()
        self.timers.append(t)

    def _ctl_quiet(self, line):
        try:
            self.ctl(line)
        except (BackendError, OSError) as e:
            self.extra.setdefault("netsim_errors", []).append("%s: %s" % (line, e))

    def begin(self, sc):
        # every scenario starts on a clean link, then adds its own impairments
        self.ctl("impair link=0 dir=both")
        self.ctl("rule clear")
        self.ctl("counters reset=1")
        ns = getattr(sc, "netsim", {}) or {}
        for d in ("to-guest", "from-guest"):
            if ns.get(d):
                self.ctl("impair link=0 dir=%s %s" % (d, ns[d]))
        if ns.get("impair"):
            self.ctl("impair link=0 dir=both %s" % ns["impair"])
        for r in ns.get("rules", []):
            self.ctl("rule " + r)
        self.ctl("dns clear")
        for d in ns.get("dns", []):
            self.ctl("dns " + d)

    def settle(self, sc):
        for t in self.timers:
            t.join(timeout=30)  # background control commands finish within their scenario
        self.timers = []

    def end(self, sc):
        self.extra.setdefault("netsim_counters", {})[sc.name] = self.ctl("counters reset=1")

    def lan_down(self):
        if self.netsim:
            self.netsim.stop()
