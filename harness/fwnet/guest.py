"""QEMU guests that run the agent: each a QEMU process (qemu.Qemu) and the
agent's framed replies on its serial socket (agent/PROTOCOL.md). Guests
boots one or more on a network; what they boot is the caller's cmdline().
"""
import os
import re
import socket
import time
import zlib

from . import qemu
from .backend import BackendError, parse_reply

FRAME_RE = re.compile(rb"@@F (.*?) ([0-9a-f]{8}) F@@")
ESC_RE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]")


def _crc32(b):
    return "%08x" % (zlib.crc32(b) & 0xffffffff)


class GuestConn:
    """One guest: its QEMU and its agent over the serial socket."""

    def __init__(self, q, ser, run_dir, accel):
        self.q, self.ser, self.accel, self.dir = q, ser, accel, run_dir
        self.qmp = None  # a QMP monitor only when the guest is snapshotted (Guests.boot)
        self.serial_log = open(os.path.join(run_dir, "serial.log"), "ab")
        self.buf, self.nframes = b"", 0

    def frame(self, timeout):
        """The next framed reply whose CRC matches (OVMF's own output and
        escape sequences are mixed into the serial stream)."""
        end = time.monotonic() + timeout
        self.ser.settimeout(0.2)
        while True:
            text = ESC_RE.sub(b"", self.buf).replace(b"\r", b"").replace(b"\n", b"")
            frames = [(p, c) for p, c in FRAME_RE.findall(text) if _crc32(p) == c.decode()]
            if len(frames) > self.nframes:
                self.nframes += 1
                return frames[self.nframes - 1][0].decode(errors="replace")
            if self.accel == "kvm" and qemu.kvm_failed(open(self.q.log_path, errors="replace").read()):
                raise BackendError("KVM internal error (emulation failure); see %s" % self.q.log_path)
            if time.monotonic() > end:
                state = "running" if self.q.alive() else self.q.exit_reason()
                raise BackendError("guest gave no reply within %d s (QEMU %s)" % (timeout, state))
            if not self.q.alive():
                raise BackendError("guest stopped: " + self.q.exit_reason())
            try:
                d = self.ser.recv(65536)
            except socket.timeout:
                continue
            if not d:
                raise BackendError("serial closed: " + self.q.exit_reason())
            self.buf += d
            self.serial_log.write(d)
            self.serial_log.flush()

    def ask(self, line, timeout):
        self.ser.sendall(line.encode() + b"\r")
        return self.frame(timeout)

    def resync(self, nonce, timeout=20):
        """After loadvm the agent resumes in its command loop and bytes from
        before (the rolled-back run's tail) may still arrive: frames are
        discarded until the reply to `hello nonce=N` with this N."""
        self.buf, self.nframes = b"", 0
        self.ser.sendall(b"\rhello nonce=%d\r" % nonce)
        end = time.monotonic() + timeout
        while True:
            r = self.frame(max(0.5, end - time.monotonic()))
            if parse_reply(r).get("nonce") == str(nonce):
                self.buf, self.nframes = b"", 0
                return r

    def close(self, wedged=False):
        try:
            if self.q.alive() and not wedged:  # a wedged agent never answers quit
                self.ask("quit", 20)
        except (BackendError, OSError):
            pass
        if self.qmp:
            self.qmp.close()
        self.q.stop()
        self.ser.close()
        self.serial_log.close()


class Guests:
    """n guests, guest 1 in run_dir and guest k in run_dir/guest<k>, each
    ready when its agent says so. cmdline(k, guest_dir, serial_sock) gives
    guest k+1's QEMU command line."""

    def __init__(self):
        self.list = []
        self.q = None  # guest 1's QEMU

    def boot(self, n, run_dir, cmdline, accel, boot_timeout, qmp_monitor=False, resume=None):
        """Returns the seconds all took to start. qmp_monitor: connect to each
        guest's QMP socket (guest_dir/qmp.sock, when its command line has one).
        Every QEMU starts before any is waited for, so their boots overlap.
        resume=(tag, nonce): the guests' images already hold snapshot tag
        (snapshare.py) and their command lines load it (-loadvm): the agent
        is resynced instead of awaited."""
        self.list = []
        t0 = time.monotonic()
        for k in range(n):
            gd = run_dir if k == 0 else os.path.join(run_dir, "guest%d" % (k + 1))
            os.makedirs(gd, exist_ok=True)
            sock = os.path.join(gd, "serial.sock")
            if os.path.exists(sock):
                os.unlink(sock)
            q = qemu.Qemu(cmdline(k, gd, sock), gd)
            if k == 0:
                self.q = q
            try:
                ser = qemu.connect_serial(sock, q)
            except qemu.QemuError:
                q.stop(grace=0)
                raise
            self.list.append(GuestConn(q, ser, gd, accel))
        for g in self.list:
            if resume:
                g.resync(resume[1], boot_timeout)
            else:
                ready = g.frame(boot_timeout)
                if not ready.startswith("ready"):
                    raise BackendError("agent did not start: %r" % ready)
            qmp = os.path.join(g.dir, "qmp.sock")
            if qmp_monitor and os.path.exists(qmp):
                try:
                    g.qmp = qemu.Qmp(qmp)
                except (qemu.QemuError, OSError, ValueError) as e:
                    raise BackendError("QMP monitor: %s" % e)
        return round(time.monotonic() - t0, 2)

    def hmp_all(self, line, timeout=30):
        """One monitor command on every guest (stop, cont)."""
        for g in self.list:
            try:
                g.qmp.hmp(line, timeout)
            except (qemu.QemuError, OSError, ValueError, AttributeError) as e:
                raise BackendError("%s: %s" % (line, e))

    def savevm(self, tag):
        """Every guest's state as snapshot tag; the seconds it took."""
        t0 = time.monotonic()
        for g in self.list:
            try:
                g.qmp.hmp("savevm " + tag, 120)
            except (qemu.QemuError, OSError, ValueError, AttributeError) as e:
                raise BackendError("savevm: %s" % e)
        return time.monotonic() - t0

    def loadvm(self, tag, nonce, n=None):
        """Every guest (the first n) back to snapshot tag, its agent answering
        again; the seconds it took."""
        t0 = time.monotonic()
        which = self.list[:n] if n else self.list
        for g in which:
            try:
                g.qmp.hmp("loadvm " + tag, 120)
            except (qemu.QemuError, OSError, ValueError, AttributeError) as e:
                raise BackendError("loadvm: %s" % e)
        for g in which:
            try:
                g.resync(nonce)
            except (BackendError, OSError) as e:
                raise BackendError("loadvm: the agent did not answer after it: %s" % e)
        return time.monotonic() - t0

    def ask(self, line, timeout, guest=1):
        return self.list[guest - 1].ask(line, timeout)

    def execute(self, line, timeout, guest=1):
        return parse_reply(self.ask(line, timeout, guest))

    def kill(self):
        """At once (a failed boot)."""
        for g in self.list:
            g.q.stop(grace=0)
            g.ser.close()

    def close(self, wedged=False):
        for g in self.list:
            g.close(wedged)
