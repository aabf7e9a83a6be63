"""Firmware-level scenarios (`kind = "firmware"`): the firmware itself is the
subject, not the agent. The PixieFail bugs live in the firmware's own IPv6,
DHCPv6 and PXE code, which runs when the boot manager tries PXE over IPv6
before (and without) any agent. Each such scenario boots OVMF in a fresh
QEMU on the lan network (netsim with dnsmasq behind it) with the scenario's
fw_cfg toggles and no agent disk, then runs its steps against the scenario's
own live capture:

  await "BPF" timeout=30s          a new frame FROM THE GUEST matching BPF
                                   (libpcap's language); it becomes {match...}
  sleep 2s
  inject TEMPLATE k=v ...          a craft.py frame onto the LAN through netsim
                                   (network.inject, uplink side: never the tap);
                                   values may use {match.LAYER.FIELD[+N]}
  silent "BPF" for 20s             the hang check: no guest frame matching BPF
                                   for 20 s after this step began -> the
                                   firmware hung (crashdet hang verdict, the
                                   scenario ends); a frame came -> it lives
  count "BPF" RANGE [since N]      guest frames matching BPF since step N began
                                   (default: the scenario's start) in RANGE
                                   (wire.py's N, N..M, >=N ...) or the step fails
  none "BPF" for 10s               no guest frame matching BPF within 10 s, or
                                   the step fails (a firmware that accepted
                                   what it should have dropped)

After the steps (or QEMU's death) crashdet.classify() looks at serial and
debugcon (DEBUG builds: `-debugcon file:debugcon.log` on port 0x402) for CPU
exceptions, ASSERTs and resets. The case is results.json's usual scenario
item (verdict pass/fail/error, problems, steps, capture) plus `crash` when
crashdet found something, and `kind = "firmware"`.

    name = "ip6-destopt-unknown-option"
    kind = "firmware"
    [firmware]
    fw_cfg = ["name=opt/org.tianocore/IPv4PXESupport,string=n"]
    steps = '''
    await "ip6 and udp dst port 547" timeout=45s
    ...
    '''

Safety: the guest's only network is netsim's LAN (a unix socket); injected
frames go to the guests only (uplink side of netsim), never onto the tap.
"""
import os
import re
import shlex
import socket
import tempfile
import threading
import time

from .backend import BackendError

GUEST_MAC = "52:54:00:12:34:56"
OPS = ("await", "sleep", "inject", "silent", "count", "none")
POLL_S = 0.25
DUR_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)?$")


class FwStep:
    """One firmware step; also what Scenario.steps holds for such a scenario
    (scenario.Step's attributes, so listings and checks that walk steps work)."""

    def __init__(self, index, line, op, args, text):
        self.index, self.line, self.op, self.args, self.text = index, line, op, args, text
        self.bind, self.expect, self.guest, self.peer_action = None, {}, 1, None

    @property
    def label(self):
        return "%d:%s" % (self.index, self.op)


def _dur(v, where):
    m = DUR_RE.match(v)
    if not m:
        raise ValueError("%s: duration %r (e.g. 20s, 500ms)" % (where, v))
    x = float(m.group(1))
    return x / 1000 if m.group(2) == "ms" else x


def _check_bpf(expr):
    from . import wire
    wire.compile_check("bpf", expr)


def parse_steps(script, path="?", base_line=0, verify=True):
    """The step list of a firmware scenario, every step checked now (BPF
    compiled, templates and parameters validated). Raises ValueError with
    'line N: ...'."""
    from . import scenario
    steps = []
    for off, raw in enumerate(script.splitlines()):
        ln = base_line + 1 + off
        s = scenario.strip_comment(raw).strip()
        if not s:
            continue
        try:
            w = shlex.split(s, posix=True)
        except ValueError as e:
            raise ValueError("line %d: %s" % (ln, e))
        op, rest = w[0], w[1:]
        where = "line %d: %s" % (ln, op)
        args = {}
        if op not in OPS:
            raise ValueError("line %d: unknown firmware step %r (steps: %s)" % (ln, op, ", ".join(OPS)))
        if op in ("await", "silent", "count", "none"):
            if not rest:
                raise ValueError("%s: needs a \"BPF\" filter" % where)
            args["filter"] = rest.pop(0)
            if verify and args["filter"].strip():  # "": any frame from the guest
                try:
                    _check_bpf(args["filter"])
                except Exception as e:
                    raise ValueError("%s: filter %r: %s" % (where, args["filter"], getattr(e, "msg", e)))
        if op == "await":
            args["timeout"] = 30.0
            for x in rest:
                if not x.startswith("timeout="):
                    raise ValueError("%s: unexpected %r (await \"BPF\" timeout=30s)" % (where, x))
                args["timeout"] = _dur(x[8:], where)
        elif op == "sleep":
            if len(rest) != 1:
                raise ValueError("%s: sleep DURATION" % where)
            args["seconds"] = _dur(rest[0], where)
        elif op in ("silent", "none"):
            if len(rest) != 2 or rest[0] != "for":
                raise ValueError("%s: %s \"BPF\" for DURATION" % (where, op))
            args["seconds"] = _dur(rest[1], where)
        elif op == "count":
            from . import wire
            if not rest:
                raise ValueError("%s: count \"BPF\" RANGE [since N]" % where)
            try:
                args["range"] = wire.CountRange.parse(rest[0])
            except wire.WireError as e:
                raise ValueError("%s: %s" % (where, e.msg if hasattr(e, "msg") else e))
            args["since"] = None
            if len(rest) == 3 and rest[1] == "since" and rest[2].isdigit() and 1 <= int(rest[2]) <= len(steps):
                args["since"] = int(rest[2])
            elif len(rest) != 1:
                raise ValueError("%s: count \"BPF\" RANGE [since N] (N an earlier step)" % where)
        elif op == "inject":
            from . import craft
            if not rest or "=" in rest[0]:
                raise ValueError("%s: name a packet template (%s)" % (where, ", ".join(sorted(craft.TEMPLATES))))
            tname, params = rest[0], {}
            for x in rest[1:]:
                if "=" not in x:
                    raise ValueError("%s %s: parameter %r is not key=value" % (where, tname, x))
                k, v = x.split("=", 1)
                params[k] = v
            if any("{step" in v for v in params.values()):
                raise ValueError("%s: only {match...} substitutions in a firmware scenario" % where)
            try:
                craft.validate(tname, scenario.placeholder_params(tname, params))
                if not any(scenario.SUBST_RE.search(v) for v in params.values()):
                    craft.build(tname, **params)
            except craft.CraftError as e:
                raise ValueError("%s: %s" % (where, e.msg))
            args["template"], args["params"] = tname, params
        steps.append(FwStep(len(steps) + 1, ln, op, args, s))
    if not steps:
        raise ValueError("line %d: no steps" % (base_line + 1))
    return steps


def load(sc, d, text):
    """scenario.Scenario's hook for `kind = "firmware"`: the [firmware] table
    and the steps (raises scenario.ScenarioError naming file:line)."""
    from . import scenario
    fw = d.get("firmware", {})
    unknown = [k for k in fw if k not in ("fw_cfg", "boot_timeout", "mac", "debugcon")]
    if unknown:
        raise scenario.ScenarioError(sc.path, scenario._line_of(text, unknown[0]), "[firmware]: unknown key %r" % unknown[0])
    sc.kind = "firmware"
    sc.fw_cfg = list(fw.get("fw_cfg", []))
    sc.mac = fw.get("mac", GUEST_MAC)
    sc.debugcon = fw.get("debugcon", "auto")  # auto: when the build is DEBUG
    if "steps" not in d:
        raise scenario.ScenarioError(sc.path, 1, "no steps")
    try:
        sc.fw_steps = parse_steps(d["steps"], sc.path, scenario._line_of(text, "steps"))
    except ValueError as e:
        m = re.match(r"line (\d+): (.*)", str(e), re.S)
        raise scenario.ScenarioError(sc.path, m.group(1) if m else "?", m.group(2) if m else str(e))
    sc.steps = sc.fw_steps  # never sent to an agent: the backends skip the scenario or fwscenario runs it
    sc.peers = {}
    sc.deviations = {}
    sc.guests, sc.socket_guest = 1, {}
    for cap in ("inject", "capture", "firmware-level"):
        if cap not in sc.requires:
            sc.requires.append(cap)


def is_firmware(sc):
    return getattr(sc, "kind", None) == "firmware"


# ---------------------------------------------------------------- the capture

def guest_matches(pcap, bpf, mac=GUEST_MAC, t_from=None):
    """[(time, scapy Ether)] of frames from `mac` in pcap matching bpf, at
    or after t_from (epoch s). The file may still be growing (a truncated
    last record is left out)."""
    from . import wire
    from scapy.layers.l2 import Ether
    if not pcap or not os.path.exists(pcap):
        return []
    with open(pcap, "rb") as f:
        buf = f.read()
    if len(buf) < 24:
        return []
    head, pkts = wire._pcap_records(buf)
    if not pkts:
        return []
    fd, tmp = tempfile.mkstemp(prefix="fwnet-fws-", suffix=".pcap")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(head + b"".join(p.raw for p in pkts))
        expr = "ether src %s" % mac + (" and (%s)" % bpf if bpf.strip() else "")
        rc, out, err = wire._run([wire.TCPDUMP, "-r", tmp, "-w", "-", expr])
        if rc != 0:
            raise BackendError("tcpdump %r: %s" % (expr, err))
        if not out:
            return []
        with open(tmp, "wb") as f:
            f.write(out)
        hits = wire.read_pcap(tmp)
    finally:
        os.unlink(tmp)
    return [(p.time, Ether(p.data)) for p in hits if t_from is None or p.time >= t_from]


class Steps:
    """The step engine over a live capture (capture(): the pcap path;
    flush(): make it current; inject(frame); clock(): epoch now; sleep(s);
    alive(): QEMU still running). Separate from QEMU so tests can drive it
    with a synthetic growing capture."""

    def __init__(self, steps, capture, inject, flush=lambda: None, clock=time.time, sleep=time.sleep,
                 alive=lambda: True, mac=GUEST_MAC, last_output=lambda: None):
        self.steps, self.capture, self.inject, self.flush = steps, capture, inject, flush
        self.clock, self.sleep, self.alive, self.mac, self.last_output = clock, sleep, alive, mac, last_output
        self.match = None
        self.match_t = None
        self.t_start = None
        self.step_t = {}
        self.results = []  # (step, status, msg, seconds)
        self.problems = []
        self.hang = None  # crashdet Verdict

    def _frames(self, bpf, t_from):
        self.flush()
        return guest_matches(self.capture(), bpf, self.mac, t_from)

    def run(self):
        self.t_start = self.clock()
        for st in self.steps:
            t0 = self.step_t[st.index] = self.clock()
            try:
                status, msg = getattr(self, "_" + st.op)(st, t0)
            except BackendError as e:
                status, msg = "error", str(e)
            self.results.append((st, status, msg, self.clock() - t0))
            if status == "hang":
                self.problems.append("step %d (%s, line %d): the firmware hung: %s" % (st.index, st.text, st.line, msg))
            if status == "fail":
                self.problems.append("step %d (%s, line %d): %s" % (st.index, st.text, st.line, msg))
            if status in ("error", "hang") or (status == "fail" and st.op == "await"):
                return status, msg
        return "ok", None

    def _await(self, st, t0):
        since = self.match_t + 1e-6 if self.match_t is not None else self.t_start
        while True:
            hits = self._frames(st.args["filter"], since)
            if hits:
                self.match_t, self.match = hits[0]
                return "ok", "matched %s at +%.2f s" % (self.match.summary(), self.match_t - self.t_start)
            if self.clock() - t0 > st.args["timeout"]:
                return "fail", "no guest frame matching %r within %.0f s" % (st.args["filter"], st.args["timeout"])
            if not self.alive():
                raise BackendError("QEMU exited while awaiting %r" % st.args["filter"])
            self.sleep(POLL_S)

    def _sleep(self, st, t0):
        self.sleep(st.args["seconds"])
        return "ok", None

    def _inject(self, st, t0):
        from . import craft
        from .runner import substitute
        params = {k: substitute(v, [], self.match) for k, v in st.args["params"].items()}
        try:
            frame = craft.build(st.args["template"], **params)
        except craft.CraftError as e:
            raise BackendError("inject: %s" % e)
        self.inject(frame)
        return "ok", "%d bytes: %s" % (len(frame), _summary(frame))

    def _silent(self, st, t0):
        from . import crashdet
        end = t0 + st.args["seconds"]
        t0 = max(t0, (self.match_t or 0) + 1e-6)  # the awaited frame itself is no sign of life
        while self.clock() < end:
            hits = self._frames(st.args["filter"], t0)
            if hits:
                return "ok", "alive: %s at +%.2f s after the step began" % (hits[0][1].summary(), hits[0][0] - t0)
            if not self.alive():
                raise BackendError("QEMU exited during the silence check")
            self.sleep(POLL_S)
        hits = self._frames(st.args["filter"], t0)
        if hits:
            return "ok", "alive: %s at +%.2f s after the step began" % (hits[0][1].summary(), hits[0][0] - t0)
        last_any = self._frames("", None)
        last_t = last_any[-1][0] if last_any else None
        now = self.clock()
        v = crashdet.detect_hang(self.last_output(), last_t, now, t0,
                                 hang_after=min(st.args["seconds"], crashdet.HANG_AFTER))
        if v is None:  # the console wrote lately, or another frame: no hang by crashdet's rule
            return "ok", "no frame matching %r for %.0f s, but the guest was not silent (last frame %s, console %s)" % (
                st.args["filter"], st.args["seconds"], _ago(now, last_t), _ago(now, self.last_output()))
        v.evidence = "no frame from %s matching %r for %.0f s after step %d (line %d); %s" % (
            self.mac, st.args["filter"], st.args["seconds"], st.index, st.line, v.evidence)
        self.hang = v
        return "hang", v.evidence

    def _none(self, st, t0):
        end = t0 + st.args["seconds"]
        while self.clock() < end:
            hits = self._frames(st.args["filter"], t0)
            if hits:
                return "fail", "%d guest frame(s) matching %r: %s at +%.2f s" % (
                    len(hits), st.args["filter"], hits[0][1].summary(), hits[0][0] - t0)
            self.sleep(POLL_S)
        hits = self._frames(st.args["filter"], t0)
        if hits:
            return "fail", "%d guest frame(s) matching %r: %s" % (len(hits), st.args["filter"], hits[0][1].summary())
        return "ok", "none in %.0f s" % st.args["seconds"]

    def _count(self, st, t0):
        since = self.step_t.get(st.args["since"], self.t_start) if st.args["since"] else self.t_start
        hits = self._frames(st.args["filter"], since)
        rng = st.args["range"]
        msg = "%d guest frame(s) matching %r since %s (want %s)%s" % (
            len(hits), st.args["filter"], "step %d" % st.args["since"] if st.args["since"] else "the start",
            rng.text, "".join("\n    +%.2f s %s" % (t - self.t_start, p.summary()) for t, p in hits[:8]))
        return ("ok" if len(hits) in rng else "fail"), msg


def _ago(now, t):
    return "never" if t is None else "%.1f s before" % (now - t)


def _summary(frame):
    try:
        from scapy.layers.l2 import Ether
        return Ether(frame).summary()
    except Exception:
        return frame[:32].hex()


# ---------------------------------------------------------------- running on OVMF

class _SerialReader:
    def __init__(self, sock, path):
        self.sock, self.path, self.last = sock, path, None
        self.f = open(path, "ab")
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        self.sock.settimeout(0.2)
        while not self.stop_ev.is_set():
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not d:
                return
            self.last = time.time()
            self.f.write(d)
            self.f.flush()

    def stop(self):
        self.stop_ev.set()
        self.t.join(timeout=2)
        try:
            self.sock.close()
        except OSError:
            pass
        self.f.close()


def _debug_build(fw):
    ident = fw.get("identity") or {}
    txt = " ".join(str(x) for x in (fw.get("name"), fw.get("code"), fw.get("descriptor"), ident.get("variant"),
                                   ident.get("build_type")))
    if ident.get("build_type"):
        return ident["build_type"] == "DEBUG"
    d = os.path.dirname(os.path.abspath(fw.get("code", "")))
    idp = os.path.join(d, "identity.json")
    if os.path.exists(idp):
        import json
        with open(idp) as f:
            return json.load(f).get("build_type") == "DEBUG"
    return "debug" in txt.lower()


def run_one(sc, opts, run_dir, log=print):
    """One firmware scenario in a fresh QEMU on its own lan network: the
    result case (results.json's scenarios[] item)."""
    from . import crashdet, qemu
    from . import firmware as fwmod
    from .lannet import LanNet
    t_case = time.monotonic()
    # beside the backend's run directory, not in it: crash classification of the agent
    # scenarios (bugs._post_classify) reads every log below run_dir
    d = os.path.join(run_dir.rstrip("/") + "-firmware", sc.name)
    os.makedirs(d, exist_ok=True)
    case = {"name": sc.name, "kind": "firmware", "steps": [], "deviations": [], "problems": []}
    extra = {}
    net = q = reader = None
    try:
        fw = qemu.pick_firmware(opts.firmware, getattr(opts, "firmware_dir", None) or ())
        fw["fw_cfg"] = list(getattr(opts, "fw_cfg", None) or []) + list(sc.fw_cfg)
        case["firmware"] = fw["name"]
        accel, accel_why = qemu.detect_accel(os.path.join(qemu_root(), "build", "cache"), fw, opts.accel)
        case["accel"] = accel
        net = LanNet(opts, extra)
        net.up(d)
        net.lan_up(d, [], [])
        vars_path = os.path.join(d, "vars.fd")
        import shutil
        shutil.copy(fw["vars"], vars_path)
        machine, fwargs = fwmod.qemu_args(fw, vars_path)
        boot = qemu.Boot(machine, fwargs, 256, False, fwmod.ARCHES.get(fw.get("arch"), "qemu-system-x86_64"))
        sock = os.path.join(d, "serial.sock")
        cmd = qemu.make_cmdline(boot, accel, getattr(opts, "nic", "virtio"), [], [], os.path.join(d, "capture.pcap"),
                                sock, mac=sc.mac, **net.qemu_opts())
        dbg = sc.debugcon is True or (sc.debugcon == "auto" and _debug_build(fw))
        if dbg:
            cmd += ["-debugcon", "file:" + os.path.join(d, "debugcon.log"), "-global", "isa-debugcon.iobase=0x402"]
        qemu.check_cmdline(cmd)
        net.begin(sc)  # the scenario's capture from here (before QEMU starts: every frame of this boot)
        q = qemu.Qemu(cmd, d)
        reader = _SerialReader(qemu.connect_serial(sock, q), os.path.join(d, "serial.log"))
        eng = Steps(sc.fw_steps, net.live_capture_path, lambda fr: net.inject(fr), flush=net.flush_capture,
                    alive=q.alive, mac=sc.mac, last_output=lambda: reader.last)
        status, msg = eng.run()
        case["timing"] = {"t0_wall": eng.t_start, "steps": [{"line": s.line, "t_wall": t}
                                                            for s, t in ((s, eng.step_t.get(s.index))
                                                                         for s in sc.fw_steps) if t]}
        case["steps"] = [{"line": s.line, "step": s.text, "reply": {"status": st, "msg": m}, "ms": round(sec * 1000)}
                         for s, st, m, sec in eng.results]
        case["problems"] = list(eng.problems)
        if status == "error":
            case["verdict"], case["error"] = "error", msg
        elif eng.problems:
            case["verdict"] = "fail"
        else:
            case["verdict"] = "pass"
        verdict = eng.hang
    except (BackendError, qemu.QemuError, fwmod.FirmwareError, OSError) as e:
        case["verdict"], case["error"] = "error", "setup: %s" % e
        verdict = None
    finally:
        if q is not None:
            q.stop(grace=0)
        if reader is not None:
            reader.stop()
        if net is not None:
            try:
                if net.current:
                    net.end(sc)
            except (BackendError, OSError):
                pass
            net.lan_down()
            net.down()
    # crashes: exceptions (serial, every build), ASSERTs and resets (debugcon, DEBUG builds)
    ser = _read(os.path.join(d, "serial.log"))
    dbgtxt = _read(os.path.join(d, "debugcon.log"))
    v = crashdet.classify(ser, dbgtxt, None, time.time())
    if v is not None and v.kind == "reset" and "boot manager started again" in (v.type or ""):
        v = None  # without a boot disk the boot manager walks its options: not a reset by itself
    verdict = v or verdict
    if verdict is not None:
        crashdet.write_dump(verdict, d, sc.name)
        case["crash"] = dict(verdict.as_dict(), summary=verdict.summary())
    cap = net.capture_path(sc) if net is not None else None
    if cap and os.path.exists(cap):
        case["capture"] = cap
    case["run_dir"] = d
    case["seconds"] = round(time.monotonic() - t_case, 3)
    case["extra"] = {k: v for k, v in extra.items() if k in ("lan", "netsim_counters")}
    return case


def qemu_root():
    from . import build
    return build.ROOT


def _read(p):
    try:
        with open(p, "rb") as f:
            return f.read().decode("latin-1")
    except OSError:
        return ""


def run_all(scens, opts, run_dir, log=print):
    """Every firmware scenario, each in a fresh QEMU: result cases."""
    out = []
    for sc in scens:
        log("[ovmf] %s: firmware-level scenario, fresh QEMU" % sc.name)
        c = run_one(sc, opts, run_dir, log)
        log("[ovmf] %-28s %s%s%s" % (sc.name, c["verdict"].upper(),
                                     (": " + (c.get("error") or (c["problems"] or [""])[0])) if c["verdict"] != "pass" else "",
                                     ("  [crashdet: %s]" % c["crash"]["summary"]) if c.get("crash") else ""))
        out.append(c)
    return out
