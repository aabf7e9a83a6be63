"""A QEMU guest's network, and QEMU's user network (slirp) as the default.

A network says what QEMU is given (qemu_opts), the guest's static addresses,
where peers bind and where the guest finds them, what it adds to or takes
from a backend's abilities, and what it does around every scenario. The
others: netsimproc.NetsimNet (fwnet-netsim's LAN), tapnet.TapNet (a tap
device in fwnet's namespace).
"""
from . import peers, qemu
from .backend import BackendError


class GuestNet:
    name = "?"
    addrs = (qemu.GUEST_ADDR, "10.0.2.2", "10.0.2.3")  # the guest, its gateway, its DNS
    peer_bind = peers.LOOPBACK

    def __init__(self, opts, extra):
        self.opts, self.extra = opts, extra

    def supports(self, base):
        return base

    def precondition(self):
        """Why no scenario can run on this network here, or None."""
        return None

    def lacks(self, sc):
        return []

    def static_config(self):
        """The agent's `net` request for static addressing."""
        return "mode=static addr=%s mask=255.255.255.0 gw=%s dns=%s" % self.addrs

    def up(self, run_dir):
        """Before any peer starts."""

    def lan_up(self, run_dir, guestfwds, hostfwds):
        """Before the guests boot (again, after a KVM failure)."""

    def qemu_opts(self):
        return {}

    def begin(self, sc):
        pass

    def settle(self, sc):
        """At a scenario's end, before its sockets are closed."""

    def end(self, sc):
        """At a scenario's end, after its sockets are closed."""

    def peers_done(self, sc, forwards):
        """After end(): the scenario's peers are no longer needed (slirp's
        forwards are fixed while QEMU runs, so they stay by default)."""

    def ctl(self, line):
        raise BackendError("no fwnet-netsim on the %s network (--net netsim)" % self.name)

    def later(self, delay_s, line):
        self.ctl(line)

    def lan_down(self):
        """After the guests stopped."""

    def down(self):
        """After the peers stopped."""


class SlirpNet(GuestNet):
    """QEMU's user network with restrict=on: peers on 127.0.0.1, reached by
    the guest at PEER_ADDR through guestfwd relays (fixed when QEMU starts)."""
    name = "slirp"

    def peer_addr(self, sc, name, hostpeer, fwd_port):
        return qemu.PEER_ADDR, fwd_port

    def peer_action(self, sc, name, hostpeer, action, fwd_port):
        hostpeer.action(action, fwd_port)
