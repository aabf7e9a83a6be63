"""Backends: where a scenario's socket operations run.

  linux  the agent as a Linux process, peers on loopback (the reference)
  fakes  the agent over efi-net on the host fake firmware (virtual time)
  ovmf   the agent as an EFI application on OVMF in QEMU, peers on loopback
         reached through slirp's guestfwd (restrict=on)
  rump   the agent in the bare-metal rump-hw image (lwIP) booted with
         -kernel, peers as for ovmf; or any multiboot image (--image)

Each backend: start(scenarios, run_dir), begin(scenario) -> peer addresses,
execute(line, timeout) -> reply dict, peer_action(...), end(...), stop().
"""
import os
import queue
import re
import shutil
import socket
import subprocess
import threading
import time

from . import build, peers, qemu, rump

GUEST_STATIC = "mode=static addr=10.0.2.15 mask=255.255.255.0 gw=10.0.2.2 dns=10.0.2.3"


class BackendError(Exception):
    """The backend failed (hang, crash): names the component."""


def parse_reply(line):
    words = line.strip().split()
    if not words:
        raise BackendError("empty reply")
    d = {"status": words[0]}
    for w in words[1:]:
        if "=" in w:
            k, v = w.split("=", 1)
            d[k] = v
    if "ret" in d:
        try:
            d["ret"] = int(d["ret"])
        except ValueError:
            pass
    return d


class LineProcess:
    """An agent process talking lines on stdin/stdout, with timeouts."""

    def __init__(self, argv, log_path, cwd=None):
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, bufsize=1, cwd=cwd,
                                     start_new_session=True)
        self.q = queue.Queue()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        for line in self.proc.stdout:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def ask(self, line, timeout):
        self.log.write("> %s\n" % line)
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise BackendError("agent exited (status %s)" % self.proc.poll())
        try:
            r = self.q.get(timeout=timeout)
        except queue.Empty:
            raise BackendError("agent gave no reply within %d s (hang)" % timeout)
        if r is None:
            raise BackendError("agent exited (status %s)" % self.proc.wait())
        self.log.write("< %s\n" % r)
        self.log.flush()
        return r

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


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


class Backend:
    name = "?"
    accel = None
    supports = set()

    def __init__(self, opts):
        self.opts = opts
        self.facts = {}
        self.extra = {}

    def unsupported(self, sc):
        missing = [r for r in sc.requires if r not in self.supports]
        kinds = {p.kind for p in sc.peers.values()}
        missing += ["peer:" + k for k in kinds if "peer:" + k not in self.supports]
        return missing

    def execute(self, line, timeout=30):
        return parse_reply(self._ask(line, timeout))

    def end(self, sc, fds):
        for fd in sorted(set(fds.values())):
            try:
                self.execute("close fd=%d" % fd, 30)
            except BackendError:
                raise


class LinuxBackend(Backend):
    name = "linux"
    supports = {"peer:echo", "peer:discard", "peer:source", "peer:reset", "peer:refuse",
                "peer:connect", "peer:udpecho", "peer:http", "peer:stall", "udp", "peer:rump-http",
                "peer:rump-source", "peer:rump-discard", "peer:rump-echo"}

    def start(self, scenarios, run_dir):
        self.run_dir = run_dir
        agent = build.agent_path("fwnet-agent-linux")
        if not os.path.exists(agent):
            raise BackendError("linux agent not built: %s" % agent)
        self.p = LineProcess([agent], os.path.join(run_dir, "agent-linux.log"))
        self._ask = self.p.ask
        self.facts = parse_reply(self._ask("hello", 10))

    def begin(self, sc):
        self.peers = {}
        for n, p in sc.peers.items():
            self.peers[n] = start_peer(p, self.run_dir, self.opts, self)
        return {n: ("127.0.0.1", hp.port) for n, hp in self.peers.items()}

    def peer_action(self, sc, name, action):
        p = self.peers[name]
        p.action(action, sc.peers[name].port)

    def end(self, sc, fds):
        try:
            super().end(sc, fds)
        finally:
            for p in self.peers.values():
                p.stop()

    def stop(self):
        try:
            self._ask("quit", 5)
        except BackendError:
            pass
        self.p.close()


class FakesBackend(Backend):
    name = "fakes"
    supports = {"peer:echo", "peer:discard", "peer:source", "peer:reset", "peer:refuse",
                "peer:connect", "peer:udpecho", "peer:stall", "udp", "routing", "quirks",
                "peer:blackhole"}

    def start(self, scenarios, run_dir):
        agent = build.agent_path("fwnet-agent-fakes")
        if not os.path.exists(agent):
            raise BackendError("fakes agent not built: %s" % agent)
        self.p = LineProcess([agent], os.path.join(run_dir, "agent-fakes.log"))
        self._ask = self.p.ask
        self.next_port = 7000

    def begin(self, sc):
        q = ",".join(x for x in (sc.quirks, self.opts.quirks) if x)
        opts = " ".join("%s=%s" % kv for kv in sc.open.items())
        r = self.execute("open quirks=%s %s" % (q or "-", opts), 30)
        if r.get("ret") != 0:
            raise BackendError("open failed: %s" % r)
        if not self.facts:
            self.facts = self.execute("hello", 10)
        mode = sc.net.get("mode", "static")
        if mode != "none":
            r = self.execute("net " + (GUEST_STATIC if mode == "static" else "mode=dhcp timeout_ms=10000"), 60)
            if r.get("ret") != 0:
                raise BackendError("net failed: %s" % r)
        addrs = {}
        for n, p in sc.peers.items():
            kind = {"refuse": "host"}.get(p.kind, p.kind)
            if p.kind == "connect":
                addrs[n] = ("10.0.2.100", p.port)
                continue
            self.next_port += 1
            ip = "10.0.2.%d" % (150 + self.next_port % 100) if p.kind == "blackhole" else "10.0.2.100"
            r = self.execute("peer kind=%s ip=%s port=%d bytes=%d close=%d"
                             % (kind, ip, self.next_port, p.bytes, int(p.close)), 10)
            if r.get("ret") != 0:
                raise BackendError("fake LAN has no peer of kind %s: %s" % (p.kind, r))
            addrs[n] = (ip, self.next_port)
        self.addrs = addrs
        return addrs

    def peer_action(self, sc, name, action):
        p = sc.peers[name]
        if action != "connect" or p.kind != "connect":
            raise BackendError("peer %s: no action %s" % (name, action))
        self.execute("peer kind=connect port=%d bytes=%d close=%d" % (p.port, p.bytes, int(p.close)), 10)

    def stop(self):
        try:
            r = parse_reply(self._ask("quit", 30))
            self.extra["leaks"] = r.get("leaks", "?")
        except BackendError as e:
            self.extra["leaks"] = "unknown (%s)" % e
        self.p.close()


FRAME_RE = re.compile(rb"@@F (.*?) ([0-9a-f]{8}) F@@")
ESC_RE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]")


def _crc32(b):
    import zlib
    return "%08x" % (zlib.crc32(b) & 0xffffffff)


class GuestConn:
    """One OVMF guest: its QEMU and its agent over the serial socket."""

    def __init__(self, q, ser, run_dir, accel):
        self.q, self.ser, self.accel = q, ser, accel
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

    def close(self, wedged=False):
        try:
            if self.q.alive() and not wedged:  # a wedged agent never answers quit
                self.ask("quit", 20)
        except (BackendError, OSError):
            pass
        self.q.stop()
        self.ser.close()
        self.serial_log.close()


class OvmfBackend(Backend):
    name = "ovmf"
    supports = {"peer:echo", "peer:discard", "peer:source", "peer:reset", "peer:refuse",
                "peer:connect", "peer:http", "peer:stall", "quirks", "firmware", "peer:rump-http",
                "peer:rump-source", "peer:rump-discard", "peer:rump-echo"}

    def __init__(self, opts):
        super().__init__(opts)
        self.net = getattr(opts, "net", "slirp")
        if self.net == "tap":  # image peers are reached over loopback forwards
            self.supports = {x for x in self.supports if not x.startswith("peer:rump-")}
        if self.net == "netsim":
            self.supports = self.supports | {"netsim", "guests:2"}
        if self.net == "tap":
            # a real Linux stack answers: UDP peers work, no slirp in the way
            self.supports = self.supports | {"udp", "peer:udpecho"}

    def unsupported(self, sc):
        if self.net == "tap" and (os.getuid() != 0 or os.environ.get("FWNET_IN_NETNS") != "1"):
            return ["root and a fwnet network namespace (--net tap creates a tap device there)"]
        missing = super().unsupported(sc)
        if self.net == "tap" and sc.net.get("mode") == "dhcp":
            missing.append("a DHCP server (none on the tap network)")
        return missing

    def _target(self):
        """What boots: OVMF and the agent's EFI application; the accelerator."""
        self.fw = qemu.pick_firmware(self.opts.firmware)
        self.accel, self.accel_why = qemu.detect_accel(os.path.join(build.ROOT, "build", "cache"),
                                                      self.fw, self.opts.accel)
        try:
            self.efi = build.efi_app("fwnet-agent")
        except build.BuildError as e:
            raise BackendError(str(e))

    def _guest_cmdline(self, k, gd, sock, lan):
        shutil.copy(self.fw["vars"], os.path.join(gd, "vars.fd"))  # fresh NVRAM each boot
        disk = os.path.join(gd, "disk.img")
        qemu.make_disk(self.efi, disk)
        return qemu.make_cmdline(gd, self.fw, disk, self.accel, self.opts.nic, self.guestfwds,
                                 self.hostfwds, os.path.join(gd, "capture.pcap"), sock, lan_sock=lan,
                                 tap=self.net == "tap", mac="52:54:00:12:34:%02x" % (0x56 + k),
                                 snaplen=getattr(self.opts, "snaplen", 0))

    def start(self, scenarios, run_dir):
        self.run_dir = run_dir
        self._target()
        # Every peer of every scenario gets its guest port now: slirp's
        # forwards are fixed when QEMU starts.
        self.hostpeers, self.fwd = {}, {}
        gp = 20000
        guestfwds, hostfwds = [], []
        if self.net == "tap":
            self._tap_up()
        bind = qemu.TAP_HOST if self.net == "tap" else peers.LOOPBACK
        for sc in scenarios:
            for n, p in sc.peers.items():
                hp = start_peer(p, self.run_dir, self.opts, self, bind)
                self.hostpeers[(sc.name, n)] = hp
                if p.kind == "connect":
                    s = socket.socket()
                    s.bind(("127.0.0.1", 0))
                    port = s.getsockname()[1]
                    s.close()
                    hostfwds.append((port, p.port))
                    self.fwd[(sc.name, n)] = port
                    continue
                gp += 1
                self.fwd[(sc.name, n)] = gp
                if p.kind != "refuse":  # no forward: slirp answers RST
                    guestfwds.append((gp, hp.port))
        self.guestfwds, self.hostfwds = guestfwds, hostfwds
        self.nguests = max([getattr(sc, "guests", 1) for sc in scenarios] + [1])
        try:
            self._boot()
        except BackendError:
            if self.accel != "kvm" or not qemu.kvm_failed(open(self.q.log_path, errors="replace").read()):
                raise
            # KVM was there but could not run the guest: fall back to TCG.
            for g in self.guests:
                g.q.stop(grace=0)
                g.ser.close()
            qemu.forget_accel(os.path.join(build.ROOT, "build", "cache"), "emulation failure")
            self.accel, self.accel_why = "tcg", "KVM failed at boot (emulation failure): TCG"
            self._boot()

    def _boot(self):
        self.lan = None
        if self.net == "netsim":
            self.lan = self._start_netsim()
        self._start_guests()

    def _start_guests(self):
        rd = self.run_dir
        self.guests = []
        t0 = time.monotonic()
        for k in range(self.nguests):
            gd = rd if k == 0 else os.path.join(rd, "guest%d" % (k + 1))
            os.makedirs(gd, exist_ok=True)
            sock = os.path.join(gd, "serial.sock")
            if os.path.exists(sock):
                os.unlink(sock)
            cmd = self._guest_cmdline(k, gd, sock, self.lan)
            q = qemu.Qemu(cmd, gd)
            if k == 0:
                self.q = q
            g = GuestConn(q, qemu.connect_serial(sock, q), gd, self.accel)
            self.guests.append(g)
            ready = g.frame(getattr(self.opts, "boot_timeout", 90))
            if not ready.startswith("ready"):
                raise BackendError("agent did not start: %r" % ready)
        self.extra["boot_s"] = round(time.monotonic() - t0, 2)
        self.facts = parse_reply(self._ask("hello", 30))

    def _ask(self, line, timeout, guest=1):
        return self.guests[guest - 1].ask(line, timeout)

    def execute(self, line, timeout=30, guest=1):
        return parse_reply(self._ask(line, timeout, guest))

    def _tap_up(self):
        try:
            self.tcpdump = qemu.tap_up(self.run_dir, getattr(self.opts, "snaplen", 0))
        except qemu.QemuError as e:
            raise BackendError(str(e))

    def _tap_down(self):
        qemu.tap_down(getattr(self, "tcpdump", None))
        self.tcpdump = None

    def _start_netsim(self):
        """fwnet-netsim as the LAN: it forwards to the host peers itself."""
        rd = self.run_dir
        exe = build.tool_path("netsim", "fwnet-netsim")
        if not os.path.exists(exe):
            raise BackendError("fwnet-netsim not built: %s" % exe)
        self.lan_sock, self.ctl_sock = os.path.join(rd, "lan.sock"), os.path.join(rd, "netsim.ctl")
        for p in (self.lan_sock, self.ctl_sock):
            if os.path.exists(p):
                os.unlink(p)
        cmd = [exe, "--lan", self.lan_sock, "--control", self.ctl_sock, "--pcap", os.path.join(rd, "netsim.pcap"),
               "--seed", str(self.opts.seed), "--relay", os.path.join(qemu.HERE, "relay.py")]
        for gp, hp in self.guestfwds:
            cmd += ["--guestfwd", "%d:%d" % (gp, hp)]
        for hp, gp in self.hostfwds:
            cmd += ["--hostfwd", "%d:%d" % (hp, gp)]
        self.netsim = qemu.Qemu(cmd, rd, name="netsim")
        deadline = time.monotonic() + 10
        while not (os.path.exists(self.lan_sock) and os.path.exists(self.ctl_sock)):
            if not self.netsim.alive():
                raise BackendError(self.netsim.exit_reason())
            if time.monotonic() > deadline:
                raise BackendError("fwnet-netsim did not start")
            time.sleep(0.02)
        return self.lan_sock

    def netsim_later(self, delay_s, line):
        """A control command in the background, while a step runs."""
        t = threading.Timer(delay_s, self._netsim_ctl_quiet, args=(line,))
        t.daemon = True
        t.start()
        self.timers = getattr(self, "timers", []) + [t]

    def _netsim_ctl_quiet(self, line):
        try:
            self.netsim_ctl(line)
        except (BackendError, OSError) as e:
            self.extra.setdefault("netsim_errors", []).append("%s: %s" % (line, e))

    def netsim_ctl(self, line):
        """One control command to fwnet-netsim; its reply line."""
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

    def begin(self, sc):
        self.sc = sc
        if getattr(self, "netsim", None):
            # every scenario starts on a clean link, then adds its own impairments
            self.netsim_ctl("impair link=0 dir=both")
            self.netsim_ctl("rule clear")
            self.netsim_ctl("counters reset=1")
            ns = getattr(sc, "netsim", {}) or {}
            for d in ("to-guest", "from-guest"):
                if ns.get(d):
                    self.netsim_ctl("impair link=0 dir=%s %s" % (d, ns[d]))
            if ns.get("impair"):
                self.netsim_ctl("impair link=0 dir=both %s" % ns["impair"])
            for r in ns.get("rules", []):
                self.netsim_ctl("rule " + r)
            self.netsim_ctl("dns clear")
            for d in ns.get("dns", []):
                self.netsim_ctl("dns " + d)
        q = ",".join(x for x in (sc.quirks, self.opts.quirks) if x)
        opts = " ".join("%s=%s" % kv for kv in sc.open.items())
        r = self.execute("open quirks=%s %s" % (q or "-", opts), 60)
        if r.get("ret") != 0:
            raise BackendError("open failed: %s" % r)
        mode = sc.net.get("mode", "static")
        static = GUEST_STATIC if self.net != "tap" else \
            "mode=static addr=%s mask=255.255.255.0 gw=%s dns=%s" % (qemu.TAP_GUEST, qemu.TAP_HOST, qemu.TAP_HOST)
        if mode != "none":  # "none": the scenario configures (or fails to) itself
            r = self.execute("net " + (static if mode == "static" else "mode=dhcp timeout_ms=20000"), 60)
            if r.get("ret") != 0:
                raise BackendError("net failed: %s" % r)
        self.facts = self.execute("hello", 30)
        for k in range(2, getattr(sc, "guests", 1) + 1):  # the other guests on the LAN
            r = self.execute("open quirks=%s" % (q or "-"), 60, guest=k)
            if r.get("ret") != 0:
                raise BackendError("guest %d: open failed: %s" % (k, r))
            r = self.execute("net mode=static addr=10.0.2.%d mask=255.255.255.0 gw=10.0.2.2" % (14 + k), 60, guest=k)
            if r.get("ret") != 0:
                raise BackendError("guest %d: net failed: %s" % (k, r))
        if self.net == "tap":  # peers are right there, on the namespace side of the tap
            return {n: (qemu.TAP_HOST, self.hostpeers[(sc.name, n)].port) for n in sc.peers}
        return {n: (qemu.PEER_ADDR, self.fwd[(sc.name, n)]) for n in sc.peers}

    def peer_action(self, sc, name, action):
        hp = self.hostpeers[(sc.name, name)]
        if self.net == "tap":
            hp.action(action, sc.peers[name].port, qemu.TAP_GUEST)
        else:
            hp.action(action, self.fwd[(sc.name, name)])

    def end(self, sc, fds):
        # sockets on other guests are closed there (names carry their guest)
        for name, fd in list(fds.items()):
            g = getattr(sc, "socket_guest", {}).get(name, 1)
            if g != 1:
                self.execute("close fd=%d" % fd, 30, guest=g)
                del fds[name]
        for t in getattr(self, "timers", []):
            t.join(timeout=30)  # background control commands finish within their scenario
        self.timers = []
        super().end(sc, fds)
        if getattr(self, "netsim", None):
            self.extra.setdefault("netsim_counters", {})[sc.name] = self.netsim_ctl("counters reset=1")

    def stop(self):
        try:
            for g in getattr(self, "guests", []):
                g.close(getattr(self, "wedged", False))
        finally:
            if getattr(self, "netsim", None):
                try:
                    self.netsim_ctl("stop")
                except (BackendError, OSError):
                    pass
                self.netsim.stop(grace=2)
            for hp in getattr(self, "hostpeers", {}).values():
                hp.stop()
            if self.net == "tap":
                self._tap_down()


class RumpBackend(OvmfBackend):
    """The agent in the rump-hw image (lwIP sockets), booted with -kernel; or
    any multiboot image that speaks the agent protocol on COM1 (--image,
    --append). Networks and peers as for ovmf."""
    name = "rump"
    supports = {"peer:echo", "peer:discard", "peer:source", "peer:reset", "peer:refuse",
                "peer:connect", "peer:http", "peer:stall", "peer:rump-http", "peer:rump-source",
                "peer:rump-discard", "peer:rump-echo"}

    def unsupported(self, sc):
        missing = super().unsupported(sc)
        if getattr(sc, "guests", 1) > 1:
            missing.append("one guest (several image guests on a LAN are not wired)")
        return missing

    def begin(self, sc):
        # lwIP keeps state across scenarios that Linux does not (a DNS
        # cache): a scenario that resolves names gets a fresh machine,
        # which boots in well under a second.
        if getattr(self, "ran", 0) and any(st.op == "resolve" for st in sc.steps):
            for g in self.guests:
                g.close()
            self._start_guests()
            self.extra["fresh_boots"] = self.extra.get("fresh_boots", 0) + 1
        self.ran = getattr(self, "ran", 0) + 1
        return super().begin(sc)

    def _target(self):
        self.accel, self.accel_why = rump.accel_for(self.opts)
        try:
            self.image, self.append = rump.image_and_append(self.opts, "agent")
        except (build.BuildError, qemu.QemuError) as e:
            raise BackendError(str(e))
        if self.net == "tap" and not getattr(self.opts, "append", None):
            self.append = "net=static ip=%s/24 gw=%s dns=%s svc=agent" % (qemu.TAP_GUEST, qemu.TAP_HOST,
                                                                         qemu.TAP_HOST)
        self.extra["image"] = self.image
        self.extra["append"] = self.append

    def _guest_cmdline(self, k, gd, sock, lan):
        try:
            return qemu.make_kernel_cmdline(self.image, self.append, self.accel, self.opts.nic, self.guestfwds,
                                            self.hostfwds, os.path.join(gd, "capture.pcap"), sock, lan_sock=lan,
                                            tap=self.net == "tap", mac="52:54:00:12:34:%02x" % (0x56 + k),
                                            snaplen=getattr(self.opts, "snaplen", 0))
        except qemu.QemuError as e:
            raise BackendError(str(e))


BACKENDS = {"linux": LinuxBackend, "fakes": FakesBackend, "ovmf": OvmfBackend, "rump": RumpBackend}
