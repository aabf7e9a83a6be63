"""A backend's peers: host peers (peers.py) or image peers (rump.py, kind
rump-*, forwarded to 127.0.0.1), and for QEMU guests the forwards to them.

slirp's forwards are fixed when QEMU starts, so a QEMU backend starts every
peer of every scenario at once (Forwards) and gives each its guest port.
"""
import socket

from . import build, peers, qemu, rump
from .backend import BackendError


def start_peer(spec, run_dir, opts, backend, bind=peers.LOOPBACK):
    """A host peer, or an image peer (kind rump-http) forwarded to 127.0.0.1."""
    if spec.kind.startswith("rump-"):
        if not getattr(backend, "image_accel", None):
            backend.image_accel = rump.accel_for(opts)
        try:
            rp = rump.RumpPeer(spec, run_dir, opts, backend.image_accel[0]).start()
        except (qemu.QemuError, build.BuildError) as e:
            raise BackendError("peer %s: %s" % (spec.name, e))
        backend.extra.setdefault("image_peers", []).append(
            {"peer": spec.name, "ready_s": rp.ready_s, "accel": backend.image_accel[0]})
        return rp
    return peers.HostPeer(spec, bind).start()


def free_loopback_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Forwards:
    """Every scenario's peers, started, and the forwards QEMU (or netsim)
    is given: guestfwds [(guest port, host port)] to the peers, hostfwds
    [(host port, guest port)] for `connect` peers, which connect in."""
    FIRST_GUEST_PORT = 20000

    def __init__(self):
        self.hostpeers, self.fwd = {}, {}
        self.guestfwds, self.hostfwds = [], []

    def start(self, scenarios, run_dir, opts, backend, bind):
        gp = self.FIRST_GUEST_PORT
        for sc in scenarios:
            for n, p in sc.peers.items():
                hp = start_peer(p, run_dir, opts, backend, bind)
                self.hostpeers[(sc.name, n)] = hp
                if p.kind == "connect":
                    port = free_loopback_port()
                    self.hostfwds.append((port, p.port))
                    self.fwd[(sc.name, n)] = port
                    continue
                gp += 1
                self.fwd[(sc.name, n)] = gp
                if p.kind != "refuse":  # no forward: slirp answers RST
                    self.guestfwds.append((gp, hp.port))

    def peer(self, sc, name):
        """(the running peer, its forwarded port)"""
        return self.hostpeers[(sc.name, name)], self.fwd[(sc.name, name)]

    def stop(self):
        for hp in self.hostpeers.values():
            hp.stop()
