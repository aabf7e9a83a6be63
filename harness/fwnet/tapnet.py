"""A tap network for QEMU guests: the tap device fwtap0, made only inside
fwnet's own network namespace (root, after isolation.enter()) and removed
again; its host side 10.0.3.1/24 is captured by tcpdump.

TapNet is the guest network of `--net tap`: the guest gets a real Linux
stack beside it (UDP works, no slirp in the way), host peers bind the tap's
host address and are reached there directly.
"""
import os
import subprocess

from .guestnet import GuestNet
from .qemu import TAP_DEV, TAP_GUEST, TAP_HOST, QemuError


def in_own_namespace():
    return os.getuid() == 0 and os.environ.get("FWNET_IN_NETNS") == "1"


def tap_up(run_dir, snaplen=0):
    """fwtap0 in fwnet's namespace (root, after isolation.enter()): host side
    10.0.3.1/24, captured by tcpdump into run_dir/tap.pcap (returned)."""
    if not in_own_namespace():
        raise QemuError("a tap network needs root and fwnet's own network namespace")

    def ip(*a):
        r = subprocess.run(["ip"] + list(a), capture_output=True, text=True)
        if r.returncode:
            raise QemuError("ip %s: %s" % (" ".join(a), r.stderr.strip()))
    subprocess.run(["ip", "link", "del", TAP_DEV], capture_output=True)
    ip("tuntap", "add", "dev", TAP_DEV, "mode", "tap")
    ip("addr", "add", TAP_HOST + "/24", "dev", TAP_DEV)
    ip("link", "set", TAP_DEV, "up")
    # --immediate-mode: each frame handed over as it comes (not in the kernel's
    # ring blocks), so the frames of a run that ends within a block's timeout
    # are written before tcpdump is stopped
    return subprocess.Popen(["tcpdump", "-i", TAP_DEV, "-U", "--immediate-mode", "-n", "-s", str(snaplen or 262144),
                             "-w", os.path.join(run_dir, "tap.pcap")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def tap_down(tcpdump):
    if tcpdump:
        tcpdump.terminate()
        try:
            tcpdump.wait(timeout=5)
        except subprocess.TimeoutExpired:
            tcpdump.kill()
    subprocess.run(["ip", "link", "del", TAP_DEV], capture_output=True)


class TapNet(GuestNet):
    """--net tap: fwtap0 up before the peers start (they bind its host
    side), down after they stopped."""
    name = "tap"
    addrs = (TAP_GUEST, TAP_HOST, TAP_HOST)  # the guest, its gateway, its DNS
    peer_bind = TAP_HOST

    def __init__(self, opts, extra):
        super().__init__(opts, extra)
        self.tcpdump = None

    def supports(self, base):
        # image peers are reached over loopback forwards; a real Linux stack
        # answers: UDP peers work, no slirp in the way
        return {x for x in base if not x.startswith("peer:rump-")} | {"udp", "peer:udpecho"}

    def precondition(self):
        if not in_own_namespace():
            return "root and a fwnet network namespace (--net tap creates a tap device there)"
        return None

    def lacks(self, sc):
        return ["a DHCP server (none on the tap network)"] if sc.net.get("mode") == "dhcp" else []

    def up(self, run_dir):
        self.tcpdump = tap_up(run_dir, getattr(self.opts, "snaplen", 0))

    def qemu_opts(self):
        return {"tap": True}

    def peer_addr(self, sc, name, hostpeer, fwd_port):
        return TAP_HOST, hostpeer.port  # right there, on the namespace side of the tap

    def peer_action(self, sc, name, hostpeer, action, fwd_port):
        hostpeer.action(action, sc.peers[name].port, TAP_GUEST)

    def down(self):
        tap_down(self.tcpdump)
        self.tcpdump = None

