"""fwnet bench: throughput and Poll frequency of firmware networking.

One OVMF boot, one NIC; in that same run:
  raw              EFI_TCP4 directly: 4 tokens of 64 KiB posted, Poll loop
  bits             the precedent: one 64 KiB Receive (or Transmit), busy Poll
  efinet-<policy>  efi-net sockets, recv/send loops, Poll policy adaptive/always/never
  efinet-select    efi-net, select()-driven receive and send loops (adaptive)
  efinet-4conn     four connections received, or sent, by one select() loop
  efinet@rump      efi-net (adaptive), the rump-hw image (lwIP) as the peer
                   instead of a host peer: firmware stack to bare-metal stack
  linux            the Linux agent against the same peer on loopback (reference)
Each in both directions, repeated; medians, ranges, and ratios to raw. Also
the idle cost (QEMU's host CPU while the guest sits in select() for 5 s), and
a Poll-interval sweep of the raw driver. Absolute MB/s are recorded, never
gated: --check compares ratios and Polls per MB with committed baselines.
"""
import json
import os
import statistics
import time
import zlib

from . import backends, build, peers, qemu, scenario

BASELINE_DIR = os.path.join(build.ROOT, "bench", "baselines")
MiB = 1 << 20
GW = "10.0.2.2"


# What --only can name: the strategies, a direction, the other measurements.
STRATEGIES = ("raw", "bits", "efinet-adaptive", "efinet-always", "efinet-never", "efinet-select", "efinet-4conn",
              "efinet@rump", "linux")
PARTS = STRATEGIES + ("rx", "tx", "idle", "latency", "sweep")


# QEMU's instruction counting: one ns of guest time per instruction, virtual
# time neither aligned with nor sleeping for the host's.
ICOUNT = "shift=0,align=off,sleep=off"

# Test-only knobs (--plant): planted regressions, added to efi-net's `open`,
# that --check must catch (bench/README.md, "Calibration").
PLANTS = {"poll2x": " plant_poll_repeat=2",        # efi-net makes every Poll() twice (each counted)
          # ~2.4 M guest instructions per MB received (480 iterations of 5 per KiB):
          # 20% of efi-net's receive work outside Poll (12.3 M/MB counted)
          "rxwork": " plant_rx_work=480",
          "txtoken": " tx_tokens=3"}               # one Transmit token fewer than the default 4


def add_arguments(p):
    """fwnet bench's own options (cli.py's bench parser calls this)."""
    p.add_argument("--counted", choices=("on", "off"), default="on",
                   help="a second boot under -icount for the counted figures (guest instructions per MB "
                        "inside/outside Poll); default on")
    p.add_argument("--counted-tolerance", type=float, default=0.1,
                   help="allowed relative rise of a counted figure (default 0.1; a baseline may ask more)")
    p.add_argument("--agent", metavar="EFI",
                   help="boot this fwnet-agent.efi instead of build/release's (a build tree of your own)")
    p.add_argument("--baseline-tag", metavar="TAG",
                   help="judge against (or record) bench/baselines/<firmware>-<nic>-<accel>-TAG.json: a "
                        "baseline for another configuration (the calibration's)")
    p.add_argument("--plant", choices=sorted(PLANTS),
                   help="test only: plant a regression (poll2x, rxwork, txtoken) to calibrate --check")


class BenchError(Exception):
    pass


class _Peer:
    def __init__(self, name, kind, nbytes=0):
        self.name, self.kind, self.bytes, self.close, self.port, self.files = name, kind, nbytes, True, 0, {}


class _Plan:
    """What the OVMF backend needs to forward: one pseudo-scenario."""
    def __init__(self, size, small, with_image=False, udp=False):
        self.name = "bench"
        self.peers = {"src": _Peer("src", "source", size), "small": _Peer("small", "source", small),
                      "sink": _Peer("sink", "discard"), "idle": _Peer("idle", "discard"),
                      "echo": _Peer("echo", "echo"), "quarter": _Peer("quarter", "source", size // 4)}
        if udp:  # UDP needs a real network (tap): slirp's guestfwd is TCP only
            self.peers["uecho"] = _Peer("uecho", "udpecho")
        if with_image:  # the bare-metal image as the peer of the same bulk test
            self.peers.update({"rsrc": _Peer("rsrc", "rump-source"), "rsink": _Peer("rsink", "rump-discard")})
        self.quirks, self.open, self.net, self.requires, self.steps = "", {}, {"mode": "static"}, [], []


def pattern_crc(nbytes):
    """CRC-32 of the first nbytes a host source peer sends (peers.pattern,
    which repeats every 64 KiB), without building nbytes in memory."""
    block, crc = peers.pattern(65536), 0
    for _ in range(nbytes // 65536):
        crc = zlib.crc32(block, crc)
    return zlib.crc32(block[:nbytes % 65536], crc) & 0xffffffff


def _threads(pid):
    try:
        return [int(t) for t in os.listdir("/proc/%d/task" % pid)]
    except OSError:
        return []


def pin_vcpu(qpid, others=()):
    """Give the guest's vCPU thread (QEMU names it "CPU 0/TCG" or ".../KVM")
    the last CPU to itself and keep everything else on the others: QEMU's
    I/O thread, the relays it forks, other QEMUs (image peers), this
    harness and its peer threads.
    Unpinned, the busy vCPU and the host side of the network fight for the
    same cores and single runs vary by tens of percent. Returns what was
    done (for the facts), or None when there are too few CPUs."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    vcpu, rest = cpus[-1], set(cpus[:-1])
    pinned = 0
    for tid in _threads(qpid):
        try:
            with open("/proc/%d/task/%d/comm" % (qpid, tid)) as f:
                comm = f.read().strip()
            is_vcpu = comm.startswith("CPU ")
            os.sched_setaffinity(tid, {vcpu} if is_vcpu else rest)
            pinned += is_vcpu
        except OSError:
            continue
    for tid in [t for pid in list(others) + [os.getpid()] for t in _threads(pid)]:  # threads made later inherit
        try:
            os.sched_setaffinity(tid, rest)
        except OSError:
            pass
    if not pinned:
        return None
    return "vCPU thread on CPU %d; QEMU's other threads, relays and peers on CPU %s" % (
        vcpu, ",".join(map(str, sorted(rest))))


def qemu_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, opts, log):
        self.opts, self.log = opts, log
        self.size = opts.size
        self.small = min(opts.size, MiB if not opts.quick else 256 * 1024)
        self.rows = []
        self.tap = getattr(opts, "net", "slirp") == "tap"
        # addresses: the guest, its gateway, where host peers are (slirp's guestfwd or the tap's host side)
        self.guest = qemu.TAP_GUEST if self.tap else "10.0.2.15"
        self.gw = qemu.TAP_HOST if self.tap else GW
        self.udp = []
        self.rep = None  # the repeat a measurement belongs to (pairs it with raw's)
        self.counted_pass, self.crows = False, []  # the -icount boot's rows (counted figures)
        self.plant = getattr(opts, "plant", None)  # test only: a planted regression (calibrates --check)

    # ---- one measurement ----
    def _measure(self, strategy, direction, fn, nbytes):
        pid = self.be.q.proc.pid
        c0, t0 = qemu_cpu_s(pid), time.monotonic()
        r = fn()
        cpu, wall = qemu_cpu_s(pid) - c0, time.monotonic() - t0
        got = r["bytes"]
        if got != nbytes:
            raise BenchError("%s %s moved %s of %d bytes: %s" % (strategy, direction, got, nbytes, r))
        mb = got / MiB
        busy_out = r["us"] - r.get("poll_us", 0) - r.get("wait_us", 0)
        row = {"strategy": strategy, "dir": direction, "rep": self.rep, "bytes": got, "guest_s": r["us"] / 1e6,
               "wall_s": wall, "host_cpu_s": cpu, "mbps": mb / (r["us"] / 1e6),
               "polls": r["polls"], "completions": r["completions"],
               "polls_per_mb": r["polls"] / mb, "completions_per_mb": r["completions"] / mb,
               "bytes_per_completion": got / max(r["completions"], 1),
               # the guest's time split: inside the firmware's Poll(), asleep
               # (efi-net in WaitForEvent, the raw sweep's Stall), and busy
               # outside Poll (socket layer, copies, digest, Receive/Transmit)
               "poll_share": r.get("poll_us", 0) / max(r["us"], 1),
               "asleep_share": r.get("wait_us", 0) / max(r["us"], 1),
               "us_per_mb_outside_poll": busy_out / mb,
               "us_per_mb_inside_poll": r.get("poll_us", 0) / mb,
               # Busy guest time outside Poll per unit inside it: the socket
               # layer's (and the program's) cost measured against the
               # firmware's own. Both sides of the fraction speed up and slow
               # down with the machine, so it holds within a few percent where
               # MB/s swings by tens of percent: the regression check's
               # sharpest figure for our own code.
               "overhead": busy_out / r["poll_us"] if r.get("poll_us") else None}
        if self.counted_pass:
            # Under -icount shift=0 the guest's clock (TSC) advances one ns per
            # instruction executed (and jumps while halted: wait_us, left
            # out), so the guest's time split becomes an instruction count:
            # thousands of guest instructions per MB inside Poll() and busy
            # outside it. It does not depend on this machine's speed.
            row.update(counted=True, kins_in_poll_per_mb=r.get("poll_us", 0) / mb, kins_out_poll_per_mb=busy_out / mb,
                       tx_depth=r.get("tx_depth") if direction == "tx" else None)
            self.crows.append(row)
            self.log("  %-16s %-2s counted: %8.0f k insns/MB in Poll  %8.0f k insns/MB outside  %6.0f polls/MB%s"
                     % (strategy, direction, row["kins_in_poll_per_mb"], row["kins_out_poll_per_mb"],
                        row["polls_per_mb"], "  %.2f Transmits in flight per Poll" % row["tx_depth"]
                        if row["tx_depth"] is not None else ""))
            return row
        self.rows.append(row)
        self.log("  %-16s %-2s %8.2f MB/s  %8.0f polls/MB  %7.1f compl/MB  cpu %.2fs"
                 % (strategy, direction, row["mbps"], row["polls_per_mb"], row["completions_per_mb"], cpu))
        return row

    def _ask(self, line, timeout=600):
        r = self.be.execute(line, timeout)
        if r.get("status") != "ok":
            raise BenchError("%s: %s" % (line.split()[0], r))
        return r

    def _raw(self, direction, tokens, size, poll_us=0, nbytes=None):
        peer = "src" if direction == "rx" else "sink"
        if nbytes is not None and nbytes != self.size:
            peer = "small" if direction == "rx" else "sink"
        nbytes = nbytes or self.size
        port = self.addrs[peer][1]
        # received data is digested, as efi-net's bulk receive does: the same work on both sides
        r = self._ask("raw dir=%s addr=%s port=%d bytes=%d tokens=%d size=%d poll_us=%d gw=%s crc=%d"
                      % (direction, self.addrs[peer][0], port, nbytes, tokens, size, poll_us, self.gw,
                         direction == "rx"))
        if direction == "rx":
            self._check_crc("raw (%d tokens)" % tokens, r, nbytes)
        return {"bytes": r["ret"], "us": int(r["us"]), "polls": int(r["polls"]),
                "completions": int(r["completions"]), "poll_us": int(r.get("poll_us", 0)),
                "wait_us": int(r.get("wait_us", 0))}

    @staticmethod
    def _check_crc(who, r, nbytes):
        """Every received byte against what a host source peer sent."""
        if r["ret"] == nbytes and int(r["crc"], 16) != pattern_crc(nbytes):
            raise BenchError("%s received %d bytes with CRC %s, the peer sent %08x"
                             % (who, nbytes, r["crc"], pattern_crc(nbytes)))

    def _open(self, policy, spin_us=0):
        """A fresh efi-net stack under policy, statically addressed."""
        self._ask("open policy=%s" % policy + (" spin_us=%d" % spin_us if spin_us else "") + PLANTS.get(self.plant, ""), 60)
        self._ask("net mode=static addr=%s mask=255.255.255.0 gw=%s" % (self.guest, self.gw), 60)

    def _connect(self, peer, nodelay=False):
        a, port = self.addrs[peer]
        fd = self._ask("socket type=stream")["ret"]
        if nodelay:  # before connect(): TCP4 takes options only in Configure() (efi-net: EISCONN after)
            self._ask("setsockopt fd=%d opt=nodelay val=1" % fd)
        self._ask("connect fd=%d addr=%s port=%d" % (fd, a, port))
        return fd

    @staticmethod
    def _counted(r, s0, s1):
        return {"bytes": r["ret"], "us": int(r["us"]),
                "polls": int(s1["polls"]) - int(s0["polls"]),
                "completions": int(s1["completions"]) - int(s0["completions"]),
                "poll_us": int(s1.get("poll_us", 0)) - int(s0.get("poll_us", 0)),
                "wait_us": int(s1.get("wait_us", 0)) - int(s0.get("wait_us", 0)),
                # the transmit pipeline's mean depth: Transmit tokens in flight at each Poll
                "tx_depth": (int(s1["tx_at_poll"]) - int(s0["tx_at_poll"])) / max(int(s1["polls"]) - int(s0["polls"]), 1)
                if "tx_at_poll" in s1 else None}

    def _efinet(self, direction, policy, nbytes, select=False, peer=None):
        self._open(policy)
        peer = peer or (("src" if nbytes == self.size else "small") if direction == "rx" else "sink")
        fd = self._connect(peer)
        s0 = self._ask("stats")
        if direction == "rx":
            r = self._ask("bulkrecv fd=%d bytes=%d select=%d" % (fd, nbytes, int(select)))
            if self.plan.peers[peer].kind == "source":
                self._check_crc("efi-net under %s" % policy, r, nbytes)
        else:
            # drain: timed until every Transmit completed (acknowledged), as
            # the raw driver is; then the peer must see all of it.
            r = self._ask("bulksend fd=%d bytes=%d drain=1 crc=0" % (fd, nbytes))
        s1 = self._ask("stats")  # the transfer's figures end here, before the FIN
        if direction == "tx":
            self._sink_took_all(fd)
        self._ask("close fd=%d" % fd)
        return self._counted(r, s0, s1)

    def _sink_took_all(self, fd):
        """After a send: our FIN, and the discard peer's FIN back with no
        data (it read everything and closed)."""
        self._ask("shutdown fd=%d how=wr" % fd)
        eof = self._ask("recv fd=%d len=16" % fd)
        if eof["ret"] != 0:
            raise BenchError("sink answered %s" % eof)

    def _efinet_multi(self, direction, policy, nconn):
        """nconn connections moved at once by one select() loop, each
        carrying size/nconn bytes (receives from quarter sources; nconn=1
        is the select()-driven send on one connection). Send is timed until
        every Transmit completed, as in _efinet."""
        self._open(policy)
        peer = "quarter" if direction == "rx" else "sink"
        fds = [self._connect(peer) for _ in range(nconn)]
        fdl = ",".join(map(str, fds))
        s0 = self._ask("stats")
        if direction == "rx":
            r = self._ask("bulkrecv fds=%s bytes=%d" % (fdl, self.size // nconn))
        else:
            r = self._ask("bulksend fds=%s bytes=%d drain=1" % (fdl, self.size // nconn))
        s1 = self._ask("stats")
        for fd in fds:
            if direction == "tx":
                self._sink_took_all(fd)
            self._ask("close fd=%d" % fd)
        return self._counted(r, s0, s1)

    def _idle(self, policy, secs):
        self._open(policy)
        fd = self._connect("idle")
        pid = self.be.q.proc.pid
        c0, t0 = qemu_cpu_s(pid), time.monotonic()
        r = self._ask("select r=%d timeout_ms=%d" % (fd, secs * 1000))
        cpu, wall = qemu_cpu_s(pid) - c0, time.monotonic() - t0
        self._ask("close fd=%d" % fd)
        if r["ret"] != 0:
            raise BenchError("idle select returned %s" % r)
        return {"policy": policy, "host_cpu_s": cpu, "wall_s": wall, "cpu_fraction": cpu / wall}

    def _latency(self, policy, count, size=64, spin_us=0):
        """Request/response: count round trips of size bytes to an echo peer
        with TCP_NODELAY; latency per round trip and Polls per round trip."""
        self._open(policy, spin_us)
        fd = self._connect("echo", nodelay=True)
        s0 = self._ask("stats")
        r = self._ask("rr fd=%d count=%d size=%d" % (fd, count, size))
        s1 = self._ask("stats")
        self._ask("close fd=%d" % fd)
        if r["ret"] != count:
            raise BenchError("rr under %s: %s" % (policy, r))
        if spin_us:
            policy += "-spin%dus" % spin_us
        return {"policy": policy, "size": size, "count": count, "rtt_us": int(r["us"]) / count,
                "polls_per_rt": (int(s1["polls"]) - int(s0["polls"])) / count,
                # sleeps (WaitForEvent) per round trip: where adaptive loses to always
                "waits_per_rt": (int(s1.get("waits", 0)) - int(s0.get("waits", 0))) / count,
                "asleep_us_per_rt": (int(s1.get("wait_us", 0)) - int(s0.get("wait_us", 0))) / count}

    def _udp_rate(self, policy, count, size=64):
        """UDP request/response to an echo peer: datagrams per second both
        ways, and Polls per datagram (tap only)."""
        self._open(policy)
        a, port = self.addrs["uecho"]
        fd = self._ask("socket type=dgram")["ret"]
        self._ask("connect fd=%d addr=%s port=%d" % (fd, a, port))
        s0 = self._ask("stats")
        r = self._ask("rr fd=%d count=%d size=%d" % (fd, count, size))
        s1 = self._ask("stats")
        self._ask("close fd=%d" % fd)
        if r["ret"] != count:
            raise BenchError("UDP rr under %s: %s (a datagram lost?)" % (policy, r))
        secs = int(r["us"]) / 1e6
        return {"policy": policy, "size": size, "count": count, "datagrams_per_s": 2 * count / secs,
                "rtt_us": int(r["us"]) / count, "polls_per_datagram": (int(s1["polls"]) - int(s0["polls"])) / (2 * count)}

    def _linux(self, nbytes):
        """The Linux agent receiving the same data from the same kind of peer."""
        src = peers.HostPeer(_Peer("src", "source", nbytes)).start()
        be = backends.LinuxBackend(self.opts)
        be.start([], self.run_dir)
        try:
            fd = be.execute("socket type=stream")["ret"]
            be.execute("connect fd=%d addr=127.0.0.1 port=%d" % (fd, src.port))
            r = be.execute("bulkrecv fd=%d bytes=%d" % (fd, nbytes), 600)
            be.execute("close fd=%d" % fd)
        finally:
            be.stop()
            src.stop()
        return {"bytes": r["ret"], "us": int(r["us"]), "polls": 0, "completions": 0}

    # ---- the run ----
    def run(self, run_dir):
        agent = getattr(self.opts, "agent", None)
        if not agent:
            return self._run(run_dir)
        if not os.path.exists(agent):
            raise BenchError("--agent %s: no such file" % agent)
        efi_app = build.efi_app
        build.efi_app = lambda name="fwnet-agent": os.path.abspath(agent) if name == "fwnet-agent" else efi_app(name)
        try:
            return self._run(run_dir)
        finally:
            build.efi_app = efi_app

    def _run(self, run_dir):
        self.run_dir = run_dir
        os.makedirs(run_dir, exist_ok=True)
        self.be = backends.OvmfBackend(self.opts)
        try:
            build.rump_image()
            self.with_image = True
        except build.BuildError:
            self.with_image = False  # the image is optional here: say so in the facts
        # image peers are reached over loopback forwards; booted only when efinet@rump is measured
        self.with_image = self.with_image and not self.tap and self._wanted("efinet@rump")
        plan = self.plan = _Plan(self.size, self.small, self.with_image, self.tap)
        self.be.start([plan], run_dir)
        try:
            self.addrs = self.be.begin(plan)
            qpid = self.be.q.proc.pid
            self.pinning = pin_vcpu(qpid, [q.proc.pid for q in qemu.Qemu.live if q.proc.pid != qpid]) \
                if getattr(self.opts, "pin", True) else None
            self.log("bench: %s, nic %s, accel %s, %d MiB x %d, pinning: %s" % (
                self.be.fw["name"], self.opts.nic, self.be.accel, self.size // MiB or 1, self.opts.repeat,
                self.pinning or "none"))
            S = self.size
            measure = self._measure_wanted
            for self.rep in range(self.opts.repeat):
                self.log("repeat %d/%d" % (self.rep + 1, self.opts.repeat))
                for d in ("rx", "tx"):
                    measure("raw", d, lambda: self._raw(d, 4, 65536), S)
                    measure("bits", d, lambda: self._raw(d, 1, 65536), S)
                    for pol in ("adaptive", "always"):
                        measure("efinet-" + pol, d, lambda: self._efinet(d, pol, S), S)
                    measure("efinet-never", d, lambda: self._efinet(d, "never", self.small), self.small)
                measure("efinet-select", "rx", lambda: self._efinet("rx", "adaptive", S, True), S)
                measure("efinet-select", "tx", lambda: self._efinet_multi("tx", "adaptive", 1), S)
                for d in ("rx", "tx"):
                    measure("efinet-4conn", d, lambda: self._efinet_multi(d, "adaptive", 4), S // 4 * 4)
                if self.with_image:  # same bulk test, the rump-hw image (lwIP) as the peer
                    measure("efinet@rump", "rx", lambda: self._efinet("rx", "adaptive", S, peer="rsrc"), S)
                    measure("efinet@rump", "tx", lambda: self._efinet("tx", "adaptive", S, peer="rsink"), S)
            self.rep = None
            secs = 2 if self.opts.quick else 5
            self.idle = [self._idle(p, secs) for p in ("adaptive", "always")] if self._wanted("idle") else []
            for i in self.idle:
                self.log("  idle select(%ds) %-8s QEMU host CPU %.3f s (%.1f%% of a core)"
                         % (secs, i["policy"], i["host_cpu_s"], 100 * i["cpu_fraction"]))
            # latency is recorded, not gated: it is the relay's and slirp's as much as the guest's
            self.latency = []
            for rep in range(self.opts.repeat if self._wanted("latency") else 0):
                for pol, spin in (("adaptive", 0), ("adaptive", 1000), ("always", 0)):
                    self.latency.append(dict(self._latency(pol, 50 if self.opts.quick else 200, spin_us=spin), rep=rep))
            for pol in ("adaptive", "adaptive-spin1000us", "always") if self.latency else ():
                rs = [x for x in self.latency if x["policy"] == pol]
                self.log("  request/response 64 B %-19s median %6.0f us per round trip, %.0f Polls per round trip, "
                         "%.2f sleeps (%.0f us asleep) per round trip"
                         % (pol, statistics.median(x["rtt_us"] for x in rs),
                            statistics.median(x["polls_per_rt"] for x in rs),
                            statistics.median(x.get("waits_per_rt", 0) for x in rs),
                            statistics.median(x.get("asleep_us_per_rt", 0) for x in rs)))
            if self.tap and self._wanted("latency"):
                for rep in range(self.opts.repeat):
                    for pol in ("adaptive", "always"):
                        self.udp.append(self._udp_rate(pol, 500 if self.opts.quick else 2000))
                for pol in ("adaptive", "always"):
                    rs = [x for x in self.udp if x["policy"] == pol]
                    self.log("  UDP 64 B request/response %-8s median %7.0f datagrams/s, %.0f us per round trip, "
                             "%.1f Polls per datagram" % (pol, statistics.median(x["datagrams_per_s"] for x in rs),
                                                          statistics.median(x["rtt_us"] for x in rs),
                                                          statistics.median(x["polls_per_datagram"] for x in rs)))
            self.sweep = []
            for us in ((0, 100, 1000, -1) if self.opts.quick else (0, 20, 100, 500, 2000, -1)) \
                    if self._wanted("sweep") else ():
                r = self._measure("raw-poll-%s" % ("never" if us < 0 else "%dus" % us), "rx",
                                  lambda: self._raw("rx", 4, 65536, us, self.small), self.small)
                self.sweep.append({"poll_us": us, "mbps": r["mbps"], "polls_per_mb": r["polls_per_mb"]})
            self.facts = {"firmware": self.be.fw["name"], "nic": self.opts.nic, "accel": self.be.accel,
                          "accel_why": self.be.accel_why, "vendor": self.be.facts.get("vendor"),
                          "image_peer": "rump-hw (lwIP) via slirp hostfwd" if self.with_image else
                          ("not on tap" if self.tap else "not measured" if not self._wanted("efinet@rump")
                           else "not built"),
                          "net": "tap" if self.tap else "slirp",
                          "pinning": self.pinning or "none"}
            if getattr(self.opts, "only", None):
                self.facts["only"] = sorted(self.opts.only)
            if getattr(self.opts, "baseline_tag", None):
                self.facts["baseline_tag"] = self.opts.baseline_tag
            if self.plant:
                self.facts["plant"] = self.plant
        finally:
            self.be.stop()
        if getattr(self.opts, "counted", "on") == "on":
            self._counted_run(os.path.join(run_dir, "counted"))
        if self._wanted("linux") and self._wanted("rx"):
            self._measure_linux()
        return self.summarise()

    def _counted_run(self, run_dir):
        """A second boot under QEMU's -icount (shift=0: the guest's clock is
        its instruction count; align=off, sleep=off: virtual time never waits
        for the host): the gated strategies again, each repeat, for their
        counted figures (guest instructions per MB inside and outside Poll)."""
        os.makedirs(run_dir, exist_ok=True)
        be = self.be = backends.OvmfBackend(self.opts)
        self.plan = _Plan(self.size, self.small, False, self.tap)  # no image peers: efinet@rump is not counted
        cmdline = be._cmdline
        be._cmdline = lambda *a, **k: cmdline(*a, **k) + ["-icount", ICOUNT]
        # booting under -icount on a loaded machine can take longer than a plain boot
        bt = getattr(self.opts, "boot_timeout", 90)
        self.opts.boot_timeout = 3 * bt
        try:
            be.start([self.plan], run_dir)
        finally:
            self.opts.boot_timeout = bt
        self.counted_pass = True
        try:
            self.addrs = be.begin(self.plan)
            qpid = be.q.proc.pid
            if getattr(self.opts, "pin", True):
                pin_vcpu(qpid, [q.proc.pid for q in qemu.Qemu.live if q.proc.pid != qpid])
            self.log("bench: counted figures, -icount %s" % ICOUNT)
            S, measure = self.size, self._measure_wanted
            for self.rep in range(self.opts.repeat):
                self.log("counted repeat %d/%d" % (self.rep + 1, self.opts.repeat))
                for d in ("rx", "tx"):
                    measure("raw", d, lambda: self._raw(d, 4, 65536), S)
                    measure("bits", d, lambda: self._raw(d, 1, 65536), S)
                    measure("efinet-adaptive", d, lambda: self._efinet(d, "adaptive", S), S)
                measure("efinet-select", "rx", lambda: self._efinet("rx", "adaptive", S, True), S)
                measure("efinet-select", "tx", lambda: self._efinet_multi("tx", "adaptive", 1), S)
                if self._wanted("efinet-adaptive"):
                    self._counted_idle()
            self.rep = None
        finally:
            self.counted_pass = False
            be.stop()

    def _counted_idle(self, secs=1):
        """Poll frequency where nothing arrives: efi-net's adaptive policy in
        select() on an idle connection, Polls per second of guest time. In a
        bulk transfer every Poll brings a frame (about one per segment), so a
        Poll made twice moves two and the loop turns half as often: Polls per
        MB do not show it. Idle they are the spin after each wake-up (it
        halves at every sleep until one Poll per wake-up), which a heavier
        Poll loop fills with more of them; under -icount the count is exact
        (the same in every repeat), and a guest asleep costs no host time."""
        self._open("adaptive")
        fd = self._connect("idle")
        s0 = self._ask("stats")
        r = self._ask("select r=%d timeout_ms=%d" % (fd, secs * 1000))
        s1 = self._ask("stats")
        self._ask("close fd=%d" % fd)
        if r["ret"] != 0:
            raise BenchError("counted idle select returned %s" % r)
        polls, us = int(s1["polls"]) - int(s0["polls"]), int(r["us"])
        waits = int(s1.get("waits", 0)) - int(s0.get("waits", 0))
        row = {"strategy": "efinet-adaptive", "dir": "idle", "rep": self.rep, "counted": True, "polls": polls,
               "waits": waits, "guest_s": us / 1e6, "polls_per_s": polls / max(us / 1e6, 1e-6)}
        self.crows.append(row)
        self.log("  %-16s idle counted: %6.0f Polls per second in select() (%d Polls, %d sleeps in %.2f s of guest time)"
                 % ("efinet-adaptive", row["polls_per_s"], polls, waits, us / 1e6))

    # ---- --only ----
    def _wanted(self, name):
        """A measurement asked for: all without --only. With it, what it
        names; a direction alone means every strategy that way, strategies
        alone both directions."""
        only = getattr(self.opts, "only", None)
        if not only:
            return True
        dirs, strategies = only & {"rx", "tx"}, only & set(STRATEGIES)
        if name in ("rx", "tx"):
            return name in only or not dirs
        if name in STRATEGIES:
            return name in only or (not strategies and bool(dirs))
        return name in only

    def _measure_wanted(self, strategy, direction, fn, nbytes):
        if self._wanted(strategy) and self._wanted(direction):
            return self._measure(strategy, direction, fn, nbytes)
        return None

    def _measure_linux(self):
        r = self._linux(self.size)
        mb = r["bytes"] / MiB
        self.rows.append({"strategy": "linux", "dir": "rx", "bytes": r["bytes"], "guest_s": r["us"] / 1e6,
                          "mbps": mb / (r["us"] / 1e6), "polls": 0, "completions": 0, "polls_per_mb": 0,
                          "completions_per_mb": 0, "bytes_per_completion": 0, "host_cpu_s": 0, "wall_s": 0,
                          "poll_share": 0, "us_per_mb_outside_poll": 0})
        self.log("  %-16s rx %8.2f MB/s (host loopback, not the guest)" % ("linux", self.rows[-1]["mbps"]))

    def summarise(self):
        out = {}
        for row in self.rows:
            out.setdefault((row["strategy"], row["dir"]), []).append(row)
        table = []
        for (st, d), rs in out.items():
            m = [r["mbps"] for r in rs]
            med = {k: statistics.median(r.get(k, 0) for r in rs) for k in
                   ("mbps", "polls_per_mb", "completions_per_mb", "bytes_per_completion", "guest_s", "host_cpu_s",
                    "poll_share", "asleep_share", "us_per_mb_outside_poll", "us_per_mb_inside_poll")}
            ovh = [r["overhead"] for r in rs if r.get("overhead") is not None]
            med["overhead"] = statistics.median(ovh) if ovh else None
            table.append(dict(med, strategy=st, dir=d, n=len(rs), mbps_min=min(m), mbps_max=max(m)))
        # Ratios pair each measurement with raw's in the same repeat (minutes
        # apart at most): this machine's speed drifts by up to 2x over
        # seconds (a CPU-bound loop alone shows it), so a ratio of medians
        # taken at different times carries that drift; a median of paired
        # ratios carries less of it.
        raw_of = {(r["dir"], r.get("rep")): r for r in self.rows if r["strategy"] == "raw" and r.get("rep") is not None}
        for t in table:
            raw = next((x for x in table if x["strategy"] == "raw" and x["dir"] == t["dir"]), None)
            paired = [r["mbps"] / raw_of[(d, r["rep"])]["mbps"] for r in out[(t["strategy"], t["dir"])]
                      for d in [r["dir"]] if r.get("rep") is not None and (d, r["rep"]) in raw_of]
            if paired:
                t["ratio"], t["ratio_min"], t["ratio_max"] = statistics.median(paired), min(paired), max(paired)
            else:
                t["ratio"] = t["mbps"] / raw["mbps"] if raw else None
            t["poll_ratio"] = (t["polls_per_mb"] / raw["polls_per_mb"]) if raw and raw["polls_per_mb"] else None
        counted = []
        cby = {}
        for row in self.crows:
            cby.setdefault((row["strategy"], row["dir"]), []).append(row)
        for (st, d), rs in cby.items():
            c = {"strategy": st, "dir": d, "n": len(rs)}
            for k in ("kins_in_poll_per_mb", "kins_out_poll_per_mb", "polls_per_mb", "mbps", "tx_depth", "polls_per_s"):
                v = [r[k] for r in rs if r.get(k) is not None]
                if not v:
                    continue
                c[k], c[k + "_min"], c[k + "_max"] = statistics.median(v), min(v), max(v)
            # virtual-time throughput paired with raw's in the same repeat of the counted boot
            craw = {r["rep"]: r for r in cby.get(("raw", d), [])}
            vr = [r["mbps"] / craw[r["rep"]]["mbps"] for r in rs if r["rep"] in craw]
            if vr:
                c["vratio"], c["vratio_min"], c["vratio_max"] = statistics.median(vr), min(vr), max(vr)
            counted.append(c)
        return {"facts": self.facts, "size": self.size, "repeat": self.opts.repeat, "table": table,
                "counted": counted, "counted_rows": self.crows, "plant": self.plant,
                "gate": {"counted_tolerance": getattr(self.opts, "counted_tolerance", 0.1)},
                "idle": self.idle, "sweep": self.sweep, "rows": self.rows, "latency": self.latency, "udp": self.udp,
                "time": time.strftime("%Y-%m-%d %H:%M:%S")}


# ---- baselines and checks ----

GATED = ("efinet-adaptive", "efinet-always", "efinet-select")  # our code, not the precedent
# "always" polls continuously: its Polls per MB just mirror its speed.
POLL_GATED = ("efinet-adaptive", "efinet-select")
# Measured again under -icount (the counted pass): raw is the firmware build's own work.
COUNTED = ("raw", "efinet-adaptive", "efinet-select")
# The figures --check judges: (name, where it comes from, which way is worse,
# whose, what it is, which tolerance). "timed" figures come from the normal
# boot (ratios paired with raw in the same repeat, or counts), "counted" ones
# from the -icount boot; "build" and "counted" tolerances may be raised by the
# baseline itself (the noise that firmware build showed when recorded).
FIGURES = (
    ("ratio", "timed", "fall", GATED, "throughput ratio", "tolerance"),
    ("polls_per_mb", "timed", "rise", POLL_GATED, "Polls/MB", "poll"),
    ("overhead", "timed", "rise", GATED, "overhead", "overhead"),
    ("mbps", "timed", "fall", ("raw",), "absolute MB/s", "build"),
    ("polls_per_mb", "counted", "rise", POLL_GATED, "counted Polls/MB", "poll"),
    ("kins_in_poll_per_mb", "counted", "rise", COUNTED, "counted k guest insns/MB inside Poll", "counted"),
    ("kins_out_poll_per_mb", "counted", "rise", POLL_GATED, "counted k guest insns/MB outside Poll", "counted"),
    ("tx_depth", "counted", "fall", POLL_GATED, "counted Transmits in flight per Poll", "counted"),
    ("polls_per_s", "counted", "rise", ("efinet-adaptive",), "counted idle Polls per second", "poll"),
)
# Recorded, not judged. Counted Polls per MB received depend on whether the
# host keeps the guest fed: under -icount (sleep=off) a starved guest spins
# its 3 ms of virtual time in Polls and sleeps a tick, so with the machine's
# other CPU loaded (the host side's CPU: pin_vcpu) they rose from 716 to
# 1500-2300 on unchanged code, while the same runs' instructions per MB
# stayed within their tolerance. Poll frequency is judged where it does not
# depend on the host: sending (CPU-bound, one Poll per segment), and idle
# (efinet-adaptive/idle: the same count in every run, loaded or not).
NOT_JUDGED = {("polls_per_mb", "counted", "rx")}
COUNTED_FIGS = ("polls_per_mb", "kins_in_poll_per_mb", "kins_out_poll_per_mb", "tx_depth", "polls_per_s")
BUILD_TOL = 0.5  # absolute MB/s: this machine's speed drifts by up to 2x
BUILD_TOL_MAX = 0.6  # a build noisier than that still gets judged
COUNTED_TOL_MAX = 0.15  # the most a counted figure's recorded noise may widen its tolerance


def baseline_path(facts):
    net = "" if facts.get("net", "slirp") == "slirp" else "-" + facts["net"]
    if facts.get("baseline_tag"):
        net += "-" + facts["baseline_tag"]
    return os.path.join(BASELINE_DIR, "%s-%s-%s%s.json" % (facts["firmware"], facts["nic"], facts["accel"], net))


def samples(res, strategy, direction, fig, source):
    """The per-repeat values of one figure: paired ratios to raw (each
    repeat's raw), or each repeat's own value; a result without rows (an
    old one, a synthetic one) gives its table's median as one sample."""
    if source == "counted":
        rows = [r for r in res.get("counted_rows", []) if r["strategy"] == strategy and r["dir"] == direction]
        vals = [r[fig] for r in rows if r.get(fig) is not None]
        if not vals:
            t = next((t for t in res.get("counted", []) if t["strategy"] == strategy and t["dir"] == direction), None)
            vals = [t[fig]] if t and t.get(fig) is not None else []
        return vals
    rows = [r for r in res.get("rows", []) if r["strategy"] == strategy and r["dir"] == direction]
    if fig == "ratio":
        raw_of = {r.get("rep"): r for r in res.get("rows", []) if r["strategy"] == "raw" and r["dir"] == direction
                  and r.get("rep") is not None}
        vals = [r["mbps"] / raw_of[r["rep"]]["mbps"] for r in rows if r.get("rep") in raw_of]
    else:
        vals = [r[fig] for r in rows if r.get(fig) is not None]
    if not vals:
        t = next((t for t in res["table"] if t["strategy"] == strategy and t["dir"] == direction), None)
        vals = [t[fig]] if t and t.get(fig) is not None else []
    return vals


def _noise(vals):
    """Largest relative distance of a repeat from the median."""
    m = statistics.median(vals)
    return max(abs(v / m - 1) for v in vals) if m else 0.0


def to_baseline(res):
    entries = {}
    for t in res["table"]:
        st, d = t["strategy"], t["dir"]
        if t.get("ratio") is None or (st not in GATED and st not in COUNTED):
            continue
        e = {"ratio": round(t["ratio"], 4), "polls_per_mb": round(t["polls_per_mb"], 1)}
        if st in GATED and t.get("overhead"):
            e["overhead"] = round(t["overhead"], 4)
        if st == "raw":  # the firmware build's own speed, and the noise it showed
            e["mbps"] = round(t["mbps"], 3)
            e["tol"] = {"mbps": round(min(BUILD_TOL_MAX, max(BUILD_TOL, 2 * _noise(samples(res, st, d, "mbps",
                                                                                            "timed")))), 3)}
        c = next((c for c in res.get("counted", []) if c["strategy"] == st and c["dir"] == d), None)
        if c and st in COUNTED:
            e["counted"] = {f: round(c[f], 3 if f == "tx_depth" else 1) for f in COUNTED_FIGS if c.get(f)}
            e.setdefault("tol", {}).update({f: round(min(COUNTED_TOL_MAX, 2 * _noise(samples(res, st, d, f, "counted"))), 3)
                                            for f in e["counted"] if f != "polls_per_mb"})
        if st in GATED or "counted" in e or st == "raw":
            entries["%s/%s" % (st, d)] = e
    for c in res.get("counted", []):  # counted alone: the idle Poll frequency
        if c["dir"] == "idle" and c.get("polls_per_s"):
            entries["%s/idle" % c["strategy"]] = {"counted": {"polls_per_s": round(c["polls_per_s"], 1)}}
    return {"facts": res["facts"], "recorded": res["time"], "counted": ICOUNT if res.get("counted") else None,
            "rule": "median of per-repeat paired values; alarm when the whole min-max interval of the repeats "
                    "lies beyond the tolerance (bench/README.md)", "entries": entries}


def _wanted_in(res, strategy, direction):
    """Was this measured at all (--only)?"""
    only = set(res.get("facts", {}).get("only") or ())
    if not only:
        return True
    dirs, strategies = only & {"rx", "tx"}, only & set(STRATEGIES)
    return (direction in only or not dirs) and (strategy in only or (not strategies and bool(dirs)))


def judge(vals, base, tol, worse):
    """The decision rule for one figure: each repeat's value relative to
    the baseline, their median, and the order-statistic interval of the
    median (min to max of n repeats: it holds the true median with
    probability 1 - 2^(1-n), 75% for 3). Alarm only when the whole interval
    lies beyond the tolerance: every repeat worse than allowed (one-sided,
    a chance of at most 2^-n when the true figure sits at the bound)."""
    q = sorted(v / base for v in vals)
    med = statistics.median(q)
    alarm = q[0] > 1 + tol if worse == "rise" else q[-1] < 1 - tol
    return alarm, med, q[0], q[-1]


def _fig(v):
    return "%.0f" % v if abs(v) >= 100 else "%.3g" % v


def check(res, baseline, tol, poll_tol=None, overhead_tol=None, counted_tol=None, notes=None):
    """Problems (see judge()): a throughput ratio below its baseline by more
    than tol, Polls per MB above it by more than poll_tol (default: tol),
    efi-net's overhead above it by more than overhead_tol (default: tol), a
    counted figure above it by more than counted_tol (default 0.1, or the
    baseline's own), the firmware's absolute MB/s below the build's own
    baseline by more than that build's noise allows; and any baselined
    figure the results lack (unless --only left it out). notes (a list):
    filled with the figures every repeat of which is better than the
    baseline by more than the tolerance: a stale baseline, under which a
    regression back to the old value would pass."""
    gate = res.get("gate", {})
    tols = {"tolerance": tol, "poll": tol if poll_tol is None else poll_tol,
            "overhead": tol if overhead_tol is None else overhead_tol,
            "counted": counted_tol if counted_tol is not None else gate.get("counted_tolerance", 0.1),
            "build": BUILD_TOL}
    problems = []
    for key, b in sorted(baseline["entries"].items()):
        st, d = key.split("/")
        if not _wanted_in(res, st, d):
            continue
        if not any(t["strategy"] == st and t["dir"] == d for t in res["table"] + res.get("counted", [])):
            problems.append("%s: MISSING: in the baseline, not in the results (a baselined entry must be measured)"
                            % key)
            continue
        for fig, source, worse, whose, what, tkind in FIGURES:
            if st not in whose or (fig, source, d) in NOT_JUDGED:
                continue
            ref = (b.get("counted") or {}).get(fig) if source == "counted" else b.get(fig)
            if not ref:
                continue  # a baseline from before the figure existed: not judged on it
            if source == "timed" and fig in ("polls_per_mb", "overhead") and b.get("counted") \
                    and res.get("counted") is not None:
                # Timed Polls/MB follow the host's load (5-10x) and the timed overhead its regime (x1.6 under
                # load, unchanged code): with a counted pass, its Polls/MB and instructions inside and
                # outside Poll are judged instead, these recorded
                continue
            vals = samples(res, st, d, fig, source)
            if not vals:
                problems.append("%s: MISSING %s: in the baseline (%.4g), not in the results" % (key, what, ref))
                continue
            t = max(tols[tkind], (b.get("tol") or {}).get(fig, 0)) if tkind in ("build", "counted") else tols[tkind]
            alarm, med, lo, hi = judge(vals, ref, t, worse)
            if notes is not None and judge(vals, ref, t, "fall" if worse == "rise" else "rise")[0]:
                notes.append("%s: %s %s, every repeat better than baseline %s by more than %d%% (x%.2f-%.2f): "
                             "the baseline is stale, re-record it (--update), or a return to it passes unseen"
                             % (key, what, _fig(statistics.median(vals)), _fig(ref), t * 100, lo, hi))
            if not alarm:
                continue
            rng = "median of %d paired repeats x%.2f of baseline, interval %.2f-%.2f" % (len(vals), med, lo, hi)
            v = statistics.median(vals)
            if fig == "ratio":
                problems.append("%s: throughput ratio %.3f fell below baseline %.3f (-%d%% allowed; %s)"
                                % (key, v, ref, t * 100, rng))
            elif fig == "polls_per_mb":
                problems.append("%s: %.0f %sPolls/MB rose above baseline %.0f (+%d%% allowed; %s)"
                                % (key, v, "counted " if source == "counted" else "", ref, t * 100, rng))
            elif fig == "overhead":
                problems.append("%s: overhead %.3f (guest time outside Poll per unit inside) rose above baseline "
                                "%.3f (+%d%% allowed; %s)" % (key, v, ref, t * 100, rng))
            else:
                problems.append("%s: %s %s %s baseline %s (%s%d%% allowed; %s)"
                                % (key, what, _fig(v), "rose above" if worse == "rise" else "fell below", _fig(ref),
                                   "+" if worse == "rise" else "-", t * 100, rng))
    return problems


def targets(res):
    """The issue's targets, as measured: efi-net >= 95% of raw both ways, no
    more Polls per MB than raw, beats BITS; idle far cheaper than busy."""
    out = []
    tab = {(t["strategy"], t["dir"]): t for t in res["table"]}
    for d in ("rx", "tx"):
        e, raw, bits = tab.get(("efinet-adaptive", d)), tab.get(("raw", d)), tab.get(("bits", d))
        if e and raw:
            # judged on measured throughput: the median of ratios paired by repeat
            rng = " (paired %.2f-%.2f)" % (e["ratio_min"], e["ratio_max"]) if "ratio_min" in e else ""
            out.append(("efi-net %s >= 95%% of raw" % d, e["ratio"] >= 0.95, "%.1f%%%s" % (100 * e["ratio"], rng)))
            out.append(("efi-net %s Polls/MB <= raw" % d, e["polls_per_mb"] <= raw["polls_per_mb"],
                        "%.0f vs %.0f" % (e["polls_per_mb"], raw["polls_per_mb"])))
        if e and bits:
            out.append(("efi-net %s beats BITS" % d, e["mbps"] > bits["mbps"],
                        "%.2f vs %.2f MB/s" % (e["mbps"], bits["mbps"])))
        # the same in the counted boot's virtual time (guest instructions, not this machine's speed)
        # (transmit only: receiving, the guest sleeps waiting for the host, and virtual time jumps then)
        c = {x["strategy"]: x for x in res.get("counted", []) if x["dir"] == d == "tx"}
        if "efinet-adaptive" in c and c["efinet-adaptive"].get("vratio"):
            ce = c["efinet-adaptive"]
            out.append(("efi-net %s >= 95%% of raw (counted, virtual time)" % d, ce["vratio"] >= 0.95,
                        "%.1f%% (paired %.2f-%.2f)" % (100 * ce["vratio"], ce["vratio_min"], ce["vratio_max"])))
            if c.get("bits", {}).get("vratio"):
                out.append(("efi-net %s >= BITS (counted, virtual time)" % d, ce["vratio"] >= c["bits"]["vratio"],
                            "%.3f vs %.3f of raw" % (ce["vratio"], c["bits"]["vratio"])))
    # request/response: adaptive against always in the same repeat (paired ratios of round-trip times)
    lat = {(x.get("rep"), x["policy"]): x["rtt_us"] for x in res.get("latency", [])}
    pr = sorted(lat[(r, "adaptive")] / lat[(r, "always")] for r, p in lat if p == "always" and (r, "adaptive") in lat
                and r is not None)
    if pr:
        out.append(("latency adaptive within 10% of always", statistics.median(pr) <= 1.10,
                    "x%.3f, paired %.2f-%.2f over %d repeats" % (statistics.median(pr), pr[0], pr[-1], len(pr))))
    idle = {i["policy"]: i for i in res.get("idle", [])}
    if "adaptive" in idle and "always" in idle:
        a, w = idle["adaptive"]["cpu_fraction"], idle["always"]["cpu_fraction"]
        out.append(("idle select far cheaper than busy polling", a < w / 3,
                    "%.1f%% vs %.1f%% of a core" % (100 * a, 100 * w)))
    return out


def table_text(res):
    lines = ["%-16s %-3s %9s %13s %6s %11s %10s %10s %10s %8s %7s %9s %8s" % (
        "strategy", "dir", "MB/s", "range", "ratio", "ratio range", "polls/MB", "compl/MB", "B/compl", "cpu s",
        "in Poll", "us/MB out", "overhead")]
    order = ["raw", "bits", "efinet-adaptive", "efinet-always", "efinet-select", "efinet-4conn", "efinet-never",
             "efinet@rump", "linux"]
    for t in sorted(res["table"], key=lambda t: (t["dir"], order.index(t["strategy"]) if t["strategy"] in order else 99, t["strategy"])):
        share = t.get("poll_share")
        lines.append("%-16s %-3s %9.2f %6.2f-%-6.2f %6s %11s %10.0f %10.1f %10.0f %8.2f %7s %9s %8s" % (
            t["strategy"], t["dir"], t["mbps"], t["mbps_min"], t["mbps_max"],
            "%.3f" % t["ratio"] if t["ratio"] is not None else "-",
            "%.2f-%.2f" % (t["ratio_min"], t["ratio_max"]) if "ratio_min" in t else "-", t["polls_per_mb"],
            t["completions_per_mb"], t["bytes_per_completion"], t["host_cpu_s"],
            "%.0f%%" % (100 * share) if share else "-",
            "%.0f" % t["us_per_mb_outside_poll"] if share else "-",
            "%.3f" % t["overhead"] if t.get("overhead") else "-"))
    for c in sorted(res.get("counted", []), key=lambda c: (c["dir"], order.index(c["strategy"]) if c["strategy"] in order else 99)):
        if c["dir"] == "idle":
            lines.append("counted (-icount) %-16s idle  Polls per second in select() %.0f (%.0f-%.0f)"
                         % (c["strategy"], c["polls_per_s"], c["polls_per_s_min"], c["polls_per_s_max"]))
            continue
        lines.append("counted (-icount) %-16s %-2s  k insns/MB in Poll %6.0f (%.0f-%.0f)  outside %6.0f (%.0f-%.0f)  "
                     "polls/MB %5.0f (%.0f-%.0f)  vMB/s %5.2f, to raw %s%s" % (
                         c["strategy"], c["dir"], c["kins_in_poll_per_mb"], c["kins_in_poll_per_mb_min"],
                         c["kins_in_poll_per_mb_max"], c["kins_out_poll_per_mb"], c["kins_out_poll_per_mb_min"],
                         c["kins_out_poll_per_mb_max"], c["polls_per_mb"], c["polls_per_mb_min"], c["polls_per_mb_max"],
                         c["mbps"], "%.3f (paired %.3f-%.3f)" % (c["vratio"], c["vratio_min"], c["vratio_max"])
                         if c.get("vratio") else "-",
                         "  Transmits in flight per Poll %.2f (%.2f-%.2f)" % (c["tx_depth"], c["tx_depth_min"], c["tx_depth_max"])
                         if c.get("tx_depth") else ""))
    for i in res.get("idle", []):
        lines.append("idle select, %-8s policy: QEMU host CPU %.1f%% of a core" % (i["policy"], 100 * i["cpu_fraction"]))
    lat = res.get("latency", [])
    for pol in sorted({x["policy"] for x in lat}):
        rs = [x["rtt_us"] for x in lat if x["policy"] == pol]
        lines.append("request/response 64 B, %-19s policy: %.0f us per round trip (range %.0f-%.0f)"
                     % (pol, statistics.median(rs), min(rs), max(rs)))
    for name, ok, fig in targets(res):
        lines.append("target %-42s %s (%s)" % (name, "MET" if ok else "NOT MET", fig))
    return "\n".join(lines)


# ---- fwnet-netsim against QEMU's user network ----

def netsim_compare(opts, log, run_dir):
    """The same guest transfers over slirp (QEMU's) and over fwnet-netsim
    (no impairments), in one run: throughput both ways and request/response
    latency, and netsim's figures as ratios to slirp's."""
    size = int(opts.size * MiB)
    out = {"size": size, "nets": {}}
    for net in ("slirp", "netsim"):
        opts.net = net
        be = backends.OvmfBackend(opts)
        plan = _Plan(size, size)
        plan.peers["echo"] = _Peer("echo", "echo")
        d = os.path.join(run_dir, net)
        os.makedirs(d, exist_ok=True)
        be.start([plan], d)
        try:
            addrs = be.begin(plan)

            def ask(line, t=600):
                r = be.execute(line, t)
                if r.get("status") != "ok":
                    raise BenchError("%s over %s: %s" % (line.split()[0], net, r))
                return r

            fig = {}
            for direction in ("rx", "tx"):
                a, port = addrs["src" if direction == "rx" else "sink"]
                fd = ask("socket type=stream")["ret"]
                ask("connect fd=%d addr=%s port=%d" % (fd, a, port))
                r = ask(("bulkrecv fd=%d bytes=%d" if direction == "rx" else "bulksend fd=%d bytes=%d drain=1") % (fd, size))
                ask("close fd=%d" % fd)
                fig[direction + "_mbps"] = r["ret"] / MiB / (int(r["us"]) / 1e6)
            a, port = addrs["echo"]
            fd = ask("socket type=stream")["ret"]
            ask("setsockopt fd=%d opt=nodelay val=1" % fd)  # before connect (TCP4: options at Configure)
            ask("connect fd=%d addr=%s port=%d" % (fd, a, port))
            r = ask("rr fd=%d count=200 size=64" % fd)
            ask("close fd=%d" % fd)
            fig["rtt_us"] = int(r["us"]) / 200
            fig["accel"] = be.accel
            out["nets"][net] = fig
            log("  %-6s rx %6.2f MB/s  tx %6.2f MB/s  64-byte round trip %7.0f us"
                % (net, fig["rx_mbps"], fig["tx_mbps"], fig["rtt_us"]))
        finally:
            be.stop()
    s, n = out["nets"]["slirp"], out["nets"]["netsim"]
    out["ratios"] = {"rx": n["rx_mbps"] / s["rx_mbps"], "tx": n["tx_mbps"] / s["tx_mbps"],
                     "added_rtt_us": n["rtt_us"] - s["rtt_us"]}
    log("netsim/slirp: rx %.2f, tx %.2f; added latency per round trip %+.0f us"
        % (out["ratios"]["rx"], out["ratios"]["tx"], out["ratios"]["added_rtt_us"]))
    return out
