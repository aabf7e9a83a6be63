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
        self._ask("open policy=%s" % policy + (" spin_us=%d" % spin_us if spin_us else ""), 60)
        self._ask("net mode=static addr=%s mask=255.255.255.0 gw=%s" % (self.guest, self.gw), 60)

    def _connect(self, peer):
        a, port = self.addrs[peer]
        fd = self._ask("socket type=stream")["ret"]
        self._ask("connect fd=%d addr=%s port=%d" % (fd, a, port))
        return fd

    @staticmethod
    def _counted(r, s0, s1):
        return {"bytes": r["ret"], "us": int(r["us"]),
                "polls": int(s1["polls"]) - int(s0["polls"]),
                "completions": int(s1["completions"]) - int(s0["completions"]),
                "poll_us": int(s1.get("poll_us", 0)) - int(s0.get("poll_us", 0)),
                "wait_us": int(s1.get("wait_us", 0)) - int(s0.get("wait_us", 0))}

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
            self._sink_took_all(fd)
        s1 = self._ask("stats")
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
        fd = self._connect("echo")
        self._ask("setsockopt fd=%d opt=nodelay val=1" % fd)
        s0 = self._ask("stats")
        r = self._ask("rr fd=%d count=%d size=%d" % (fd, count, size))
        s1 = self._ask("stats")
        self._ask("close fd=%d" % fd)
        if r["ret"] != count:
            raise BenchError("rr under %s: %s" % (policy, r))
        if spin_us:
            policy += "-spin%dus" % spin_us
        return {"policy": policy, "size": size, "count": count, "rtt_us": int(r["us"]) / count,
                "polls_per_rt": (int(s1["polls"]) - int(s0["polls"])) / count}

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
        self.run_dir = run_dir
        os.makedirs(run_dir, exist_ok=True)
        self.be = backends.OvmfBackend(self.opts)
        try:
            build.rump_image()
            self.with_image = True
        except build.BuildError:
            self.with_image = False  # the image is optional here: say so in the facts
        plan = self.plan = _Plan(self.size, self.small, self.with_image and not self.tap, self.tap)
        self.with_image = self.with_image and not self.tap  # image peers are reached over loopback forwards
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
                    self.latency.append(self._latency(pol, 50 if self.opts.quick else 200, spin_us=spin))
            for pol in ("adaptive", "adaptive-spin1000us", "always") if self.latency else ():
                rs = [x for x in self.latency if x["policy"] == pol]
                self.log("  request/response 64 B %-19s median %6.0f us per round trip, %.0f Polls per round trip"
                         % (pol, statistics.median(x["rtt_us"] for x in rs),
                            statistics.median(x["polls_per_rt"] for x in rs)))
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
                          ("not on tap" if self.tap else "not built"),
                          "net": "tap" if self.tap else "slirp",
                          "pinning": self.pinning or "none"}
            if getattr(self.opts, "only", None):
                self.facts["only"] = sorted(self.opts.only)
        finally:
            self.be.stop()
        if self._wanted("linux") and self._wanted("rx"):
            self._measure_linux()
        return self.summarise()

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
        return {"facts": self.facts, "size": self.size, "repeat": self.opts.repeat, "table": table,
                "idle": self.idle, "sweep": self.sweep, "rows": self.rows, "latency": self.latency, "udp": self.udp,
                "time": time.strftime("%Y-%m-%d %H:%M:%S")}


# ---- baselines and checks ----

GATED = ("efinet-adaptive", "efinet-always", "efinet-select")  # our code, not the precedent
# "always" polls continuously: its Polls per MB just mirror its speed.
POLL_GATED = ("efinet-adaptive", "efinet-select")


def baseline_path(facts):
    net = "" if facts.get("net", "slirp") == "slirp" else "-" + facts["net"]
    return os.path.join(BASELINE_DIR, "%s-%s-%s%s.json" % (facts["firmware"], facts["nic"], facts["accel"], net))


def to_baseline(res):
    return {"facts": res["facts"], "recorded": res["time"],
            "entries": {"%s/%s" % (t["strategy"], t["dir"]): dict(
                            {"ratio": round(t["ratio"], 4), "polls_per_mb": round(t["polls_per_mb"], 1)},
                            **({"overhead": round(t["overhead"], 4)} if t.get("overhead") else {}))
                        for t in res["table"] if t["strategy"] in GATED and t["ratio"] is not None}}


def check(res, baseline, tol, poll_tol=None, overhead_tol=None):
    """Problems: a ratio below its baseline by more than tol, Polls per MB
    above its baseline by more than poll_tol (default: tol), or efi-net's
    overhead (guest time outside Poll per unit inside) above its baseline
    by more than overhead_tol (default: tol)."""
    poll_tol = tol if poll_tol is None else poll_tol
    overhead_tol = tol if overhead_tol is None else overhead_tol
    problems = []
    for t in res["table"]:
        key = "%s/%s" % (t["strategy"], t["dir"])
        b = baseline["entries"].get(key)
        if not b or t["ratio"] is None:
            continue
        if t["ratio"] < b["ratio"] * (1 - tol):
            problems.append("%s: throughput ratio %.3f fell below baseline %.3f (-%d%% allowed)"
                            % (key, t["ratio"], b["ratio"], tol * 100))
        if t["strategy"] in POLL_GATED and b["polls_per_mb"] and t["polls_per_mb"] > b["polls_per_mb"] * (1 + poll_tol):
            problems.append("%s: %.0f Polls/MB rose above baseline %.0f (+%d%% allowed)"
                            % (key, t["polls_per_mb"], b["polls_per_mb"], poll_tol * 100))
        if b.get("overhead") and t.get("overhead") and t["overhead"] > b["overhead"] * (1 + overhead_tol):
            problems.append("%s: overhead %.3f (guest time outside Poll per unit inside) rose above baseline "
                            "%.3f (+%d%% allowed)" % (key, t["overhead"], b["overhead"], overhead_tol * 100))
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
            ask("connect fd=%d addr=%s port=%d" % (fd, a, port))
            ask("setsockopt fd=%d opt=nodelay val=1" % fd)
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
