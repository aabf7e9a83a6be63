"""Multiboot images under QEMU: fwnet's own rump-hw image (fwnet-rump.elf)
or any image a user gives (--image PATH --append ARGS).

An image as a *peer* (RumpPeer) runs on its own restricted slirp network
with its services forwarded to 127.0.0.1, so every backend reaches it the way
it reaches host peers (loopback for linux; guestfwd through slirp or
fwnet-netsim for ovmf). An image is ready when its console prints a line
containing "listening" (fwnet-rump does; an external image must too).
"""
import os
import re
import socket
import time

from . import build, qemu

# The image's addressing on a slirp network (restrict=on, forwards only).
RUMP_STATIC = "net=static ip=10.0.2.15/24 gw=10.0.2.2 dns=10.0.2.3"
READY_RE = re.compile(rb"listening[^\r\n]*(?=\r?\n)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def image_and_append(opts, default_svc):
    """The image to boot and its command line: --image/--append when given,
    else fwnet-rump.elf with static addressing and the given services."""
    image = getattr(opts, "image", None)
    append = getattr(opts, "append", None)
    if image:
        if not os.path.exists(image):
            raise qemu.QemuError("--image %s: no such file" % image)
        return os.path.abspath(image), append or ""
    return build.rump_image(), append or "%s svc=%s" % (RUMP_STATIC, default_svc)


def accel_for(opts):
    """(accelerator, why) for image runs: the cached KVM probe (made with
    OVMF), TCG when there is no OVMF to probe with."""
    try:
        fw = qemu.pick_firmware(getattr(opts, "firmware", None))
    except qemu.QemuError as e:
        return (getattr(opts, "accel", None) or "tcg"), "no OVMF to probe KVM with (%s)" % e
    return qemu.detect_accel(os.path.join(build.ROOT, "build", "cache"), fw, getattr(opts, "accel", None))


class Console:
    """The image's COM1 through QEMU's serial socket, logged to a file."""

    def __init__(self, q, sock_path, log_path):
        self.q = q
        self.sock = qemu.connect_serial(sock_path, q)
        self.log = open(log_path, "ab")
        self.buf = b""

    def wait_for(self, regex, timeout, what):
        end = time.monotonic() + timeout
        self.sock.settimeout(0.1)
        while True:
            m = regex.search(self.buf)
            if m:
                return m
            if not self.q.alive():
                raise qemu.QemuError("%s: QEMU stopped before %s: %s" % (self.q.run_dir, what, self.q.exit_reason()))
            if time.monotonic() > end:
                raise qemu.QemuError("%s: no %s within %d s (console: %s)" % (self.q.run_dir, what, timeout,
                                                                             self.log.name))
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not d:
                raise qemu.QemuError("%s: console closed: %s" % (self.q.run_dir, self.q.exit_reason()))
            self.buf += d
            self.log.write(d)
            self.log.flush()

    def close(self):
        self.sock.close()
        self.log.close()


class RumpPeer:
    """A peer served by a multiboot image: rump-http (its HTTP server, which
    answers GET /N as the host http peer does), rump-source (a byte stream
    until the client closes), rump-discard, rump-echo."""
    GUEST_PORT = {"rump-http": 80, "rump-source": 19, "rump-discard": 9, "rump-echo": 7}
    PEER_NIC = "virtio"  # rump-hw drives virtio-net (legacy) and e1000 only

    def __init__(self, spec, run_dir, opts, accel):
        self.spec, self.kind = spec, spec.kind
        self.dir = os.path.join(run_dir, "peer-%s" % spec.name)
        self.opts, self.accel = opts, accel
        self.port = 0
        self.errors = []
        self.q = self.console = None
        self.ready_s = None

    def cmdline(self, sock):
        """The peer's QEMU: its own NIC, one the image drives (PEER_NIC),
        whatever NIC the run puts under test (a matrix cell's pcnet is the
        firmware's, and the image stops at any NIC it has no driver for)."""
        image, append = image_and_append(self.opts, self.kind[len("rump-"):])
        return qemu.make_cmdline(qemu.kernel_boot(image, append), self.accel, self.PEER_NIC, [],
                                 [(self.port, self.GUEST_PORT[self.kind])],
                                 os.path.join(self.dir, "capture.pcap"), sock,
                                 snaplen=getattr(self.opts, "snaplen", 0))

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        sock = os.path.join(self.dir, "serial.sock")
        if os.path.exists(sock):
            os.unlink(sock)
        cmd = self.cmdline(sock)
        t0 = time.monotonic()
        self.q = qemu.Qemu(cmd, self.dir)
        try:
            self.console = Console(self.q, sock, os.path.join(self.dir, "serial.log"))
            self.console.wait_for(READY_RE, 30, "'listening' line from the image")
        except qemu.QemuError:
            self.stop()
            raise
        self.ready_s = round(time.monotonic() - t0, 3)
        return self

    def action(self, action, *a):
        raise qemu.QemuError("peer %s (an image): no action %s" % (self.spec.name, action))

    def stop(self):
        if self.console:
            self.console.close()
            self.console = None
        if self.q:
            self.q.stop(grace=0)
            self.q = None
