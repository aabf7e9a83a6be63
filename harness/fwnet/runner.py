"""Run scenarios on a backend and judge them against goldens.

A step's reply is normalised before comparison: descriptor numbers become
the socket names the scenario gave them, and fields that differ by nature
between backends (timings, addresses, ports, statistics) are left out.
A difference from the golden is a failure unless the scenario lists it as a
deviation for that backend, with the value and a reason.

run() is what `fwnet run` and `fwnet golden` do: per backend, skip what it
cannot run, start it, run and judge every scenario, restart a QEMU backend
after an error or a listed hang, stop it on every path, write the reports.
"""
import concurrent.futures
import json
import os
import shutil
import sys
import tempfile
import threading
import time

from . import backends, qemu, report
from .backend import BackendError

COMPARED = ("status", "ret", "errno", "crc", "data", "r", "w", "revents", "val", "gai", "addrs")
# per op, fields that are backend-specific by nature
NOT_COMPARED = {"fill": {"ret", "crc"},  # how much fits is the stack's business
                "net": {"ret", "errno", "status"},  # judged by the scenario's expectations
                "sockname": {"ret"}, "peername": set(), "stats": set(COMPARED) - {"status"},
                "sleep": set(COMPARED) - {"status"}}
BACKEND_SPECIFIC_OPTS = {"rcvbuf", "sndbuf"}


class StepResult:
    def __init__(self, step, line, reply, elapsed):
        self.step, self.line, self.reply, self.elapsed = step, line, reply, elapsed


def render(step, fds, addrs):
    def fd(name):
        if name.isdigit():
            return name
        return str(fds[name])

    parts = [step.op]
    for k, v in step.args.items():
        if k == "@peer":
            a, p = addrs[v]
            parts += ["addr=" + a, "port=%d" % p]
        elif k == "fd":
            parts.append("fd=" + fd(v))
        elif k in ("r", "w", "e"):
            parts.append("%s=%s" % (k, ",".join(fd(x) for x in v.split(",") if x)))
        elif k == "fds":
            items = []
            for it in v.split(","):
                nm, _, ev = it.partition(":")
                items.append(fd(nm) + (":" + ev if ev else ""))
            parts.append("fds=" + ",".join(items))
        else:
            parts.append("%s=%s" % (k, v))
    return " ".join(parts)


def normalise(step, reply, fds):
    names = {str(v): k for k, v in fds.items()}
    out = {}
    skip = NOT_COMPARED.get(step.op, set())
    if step.op == "getsockopt" and step.args.get("opt") in BACKEND_SPECIFIC_OPTS:
        skip = skip | {"val"}
    for k in COMPARED:
        if k in skip or k not in reply:
            continue
        v = reply[k]
        if k == "ret" and step.op in ("socket", "accept") and isinstance(v, int) and v >= 0:
            v = "fd"
        if k in ("r", "w") and v != "-":
            v = ",".join(names.get(x, x) for x in v.split(","))
        if k == "revents":
            v = ",".join(names.get(x.split(":")[0], x.split(":")[0]) + ":" + x.split(":", 1)[1]
                         for x in v.split(","))
        out[k] = v
    return out


def run_scenario(backend, sc, timeout):
    """Returns (results, error): results a list of StepResult; error a
    message naming the step when the backend failed (hang, crash)."""
    results = []
    fds = {}
    # when the scenario and each step started (results.json "timing"): wall
    # clock for the pcaps (netsim stamps CLOCK_REALTIME), monotonic beside it
    timing = backend.step_times = {"t0_wall": time.time(), "t0_mono": time.monotonic(), "steps": []}
    wr = WireRun(backend, sc)
    # where the scenario's seconds went (timing.phases): begin (a QEMU
    # backend splits it: restore, open, net, hello), steps, end, wire
    phases = timing["phases"] = {}
    tb = time.monotonic()
    addrs = backend.begin(sc)
    phases["begin"] = round(time.monotonic() - tb, 3)
    step = None
    try:
        for step in sc.steps:
            t0 = time.monotonic()
            timing["steps"].append({"line": step.line, "t_wall": time.time(), "t_mono": t0})
            wr.step_started(step)
            if step.op in LOCAL_OPS:
                results.append(wr.run_step(step, results))
                continue
            if step.op == "netsim":
                text = step.args["text"]
                if text.startswith("after="):
                    ms, _, text = text.partition(" ")
                    backend.netsim_later(int(ms[6:]) / 1000.0, text)
                    reply = {"status": "ok", "scheduled": text}
                else:
                    reply = {"status": "ok", "reply": backend.netsim_ctl(text)}
                results.append(StepResult(step, "netsim " + step.args["text"], reply, time.monotonic() - t0))
                continue
            if step.peer_action:
                backend.peer_action(sc, *step.peer_action)
                results.append(StepResult(step, "peer %s %s" % step.peer_action, {"status": "ok"},
                                          time.monotonic() - t0))
                continue
            line = render(step, fds, addrs)
            t = timeout * (4 if step.op.startswith("bulk") else 1)
            d = deviations_for(sc, backend.name, getattr(backend, "net", None)).get(step.index)
            if d and d["expect"].get("status") == "hang":
                t = min(t, 5)  # a listed hang: no need to wait the full step timeout
            reply = backend.execute(line, t, guest=step.guest) if step.guest > 1 else backend.execute(line, t)
            if step.bind and isinstance(reply.get("ret"), int) and reply["ret"] >= 0:
                fds[step.bind] = reply["ret"]
            results.append(StepResult(step, line, reply, time.monotonic() - t0))
        te = time.monotonic()
        phases["steps"] = round(te - tb - phases["begin"], 3)
        backend.end(sc, fds)
        tw = time.monotonic()
        phases["end"] = round(tw - te, 3)
        wr.finish(results)
        phases["wire"] = round(time.monotonic() - tw, 3)
        return results, None
    except BackendError as e:
        wr.close()
        # A hang the scenario lists for this backend is a result, not an
        # error: recorded as status=hang, the scenario ends there and the
        # backend restarts its guest (it is wedged) before the next one.
        d = deviations_for(sc, backend.name, getattr(backend, "net", None)).get(step.index) if step else None
        if d and d["expect"].get("status") == "hang" and "no reply within" in str(e):
            results.append(StepResult(step, line, {"status": "hang"}, time.monotonic() - t0))
            backend.wedged = True
            return results, None
        where = "step %d (%s, %s:%d)" % (step.index, step.op, os.path.basename(sc.path), step.line) if step else "setup"
        return results, "%s: %s" % (where, e)


def golden_path(scen_dir, sc):
    return os.path.join(scen_dir, "golden", (sc.golden or sc.name) + ".json")


def to_golden(sc, results):
    fds = {}
    out = []
    for r in results:
        if r.step.bind and isinstance(r.reply.get("ret"), int) and r.reply["ret"] >= 0:
            fds[r.step.bind] = r.reply["ret"]
        out.append({"step": r.step.index, "line": r.step.line, "op": r.step.op,
                    "result": normalise(r.step, r.reply, fds)})
    return out


def deviations_for(sc, backend_name, net=None):
    """Listed deviations: the backend's own (firmware behaviour, e.g. "ovmf")
    and, over them, its network's ("ovmf-slirp", "ovmf-netsim", "ovmf-tap")."""
    from . import expectations  # per build (firmware = {...}), several per step
    return expectations.for_steps(sc, backend_name, net)


def listed(dev, key, got):
    """Whether a listed deviation covers this value of key; its value
    "absent" means the backend gives no such field at all."""
    from . import expectations
    return expectations.listed(dev, key, got)


def check_expectations(sc, backend_name, results, net=None):
    """Inline `=> key=value` expectations, checked on every backend."""
    problems, used = [], []
    devs = deviations_for(sc, backend_name, net)
    for m, r in zip(to_golden(sc, results), results):
        step = sc.steps[m["step"] - 1]
        # normalised values (socket names) over the raw reply (every field)
        seen = {k: v for k, v in r.reply.items()}
        seen.update(m["result"])
        for k, want in step.expect.items():
            got = seen.get(k)
            if str(got) == want:
                continue
            d = devs.get(step.index)
            if listed(d, k, got):
                used.append("step %d %s: %s instead of %s (%s)" % (step.index, k, got, want, d["why"]))
                continue
            problems.append("step %d (%s, line %d): %s: expected %s, got %s"
                            % (step.index, step.op, step.line, k, want, got))
    return problems, used


def compare(sc, backend_name, results, golden, net=None):
    """Returns (verdict, problems, deviations_used)."""
    problems, used = check_expectations(sc, backend_name, results, net)
    p2, u2 = check_local_steps(sc, backend_name, results, net)
    problems, used = problems + p2, used + u2
    if golden is None:
        return ("fail" if problems else "pass"), problems, used
    # goldens hold agent steps only: netsim control steps are not in them
    mine = [m for m in to_golden(sc, results) if m["op"] not in NOT_IN_GOLDEN]
    golden = [g for g in golden if g["op"] not in NOT_IN_GOLDEN]
    devs = deviations_for(sc, backend_name, net)
    hung = bool(mine) and mine[-1]["result"].get("status") == "hang" and listed(devs.get(mine[-1]["step"]), "status", "hang")
    if len(mine) != len(golden) and not (hung and len(mine) < len(golden)):
        problems.append("ran %d steps, golden has %d" % (len(mine), len(golden)))
    for g, m in zip(golden, mine):
        for k in sorted(set(g["result"]) | set(m["result"])):
            gv, mv = g["result"].get(k), m["result"].get(k)
            if gv == mv:
                continue
            d = devs.get(m["step"])
            if listed(d, k, mv):
                used.append("step %d %s: %s instead of %s (%s)" % (m["step"], k, mv, gv, d["why"]))
                continue
            problems.append("step %d (%s, line %d): %s: golden %s, got %s"
                            % (m["step"], m["op"], m["line"], k, gv, mv))
    return ("fail" if problems else "pass"), problems, used


def load_golden(scen_dir, sc):
    p = golden_path(scen_dir, sc)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def save_golden(scen_dir, sc, results):
    os.makedirs(os.path.join(scen_dir, "golden"), exist_ok=True)
    with open(golden_path(scen_dir, sc), "w") as f:
        json.dump([g for g in to_golden(sc, results) if g["op"] not in LOCAL_OPS], f, indent=1)
        f.write("\n")


# ---- a whole run ----

QEMU_BACKENDS = ("ovmf", "rump")


def stop_backend(be):
    try:
        be.stop()
    except Exception as e:  # a stop failure must not hide results
        print("fwnet: stopping %s: %s" % (be.name, e), file=sys.stderr)


def judge(name, sc, opts, results, err):
    """The verdict of one scenario's run on backend name: verdict and
    error, or problems and deviations used (and a note)."""
    if err:
        return {"verdict": "error", "error": err}
    golden = load_golden(opts.scenario_dir, sc)
    if opts.update_golden and name == "linux" and not sc.golden:
        problems, _ = check_expectations(sc, name, results)
        if problems:  # the reference itself breaks the scenario's expectations
            return {"verdict": "fail", "problems": problems}
        save_golden(opts.scenario_dir, sc, results)
        return {"verdict": "pass", "problems": [], "deviations": [], "note": "golden recorded"}
    if golden is None and not backends.LinuxBackend(opts).unsupported(sc):
        # The reference can run it, so it must have recorded a golden;
        # scenarios Linux cannot run are judged by their expectations.
        return {"verdict": "fail", "problems": ["no golden result (fwnet golden --update)"]}
    v, problems, used = compare(sc, name, results, golden, opts.net if name in QEMU_BACKENDS else None)
    from . import expectations  # listed deviations that did not occur: reported
    gone = expectations.now_conforms(sc, name, opts.net if name in QEMU_BACKENDS else None, used)
    return dict({"verdict": v, "problems": problems, "deviations": used}, **({"now_conforms": gone} if gone else {}))


def scenario_artifacts(be, sc):
    """The scenario's own capture (the network's capture_path) and the
    times it and its steps started, for results.json."""
    out = {}
    if getattr(be, "step_times", None):
        out["timing"] = be.step_times
        be.step_times = None
    cp = getattr(getattr(be, "network", None), "capture_path", None)
    p = cp(sc) if callable(cp) else None
    if p and os.path.exists(p):
        out["capture"] = p
    return out


# Ctrl-C/SIGTERM during a run: set once every process group was killed
# (qemu.kill_all); shards and cells still running stop at their next step.
INTERRUPTED = threading.Event()
# run_dir -> the result dict run_backend is filling (what an interrupted run
# still reports: the scenarios that finished)
PARTIAL = {}


def run_parallel(fn, items, jobs):
    """fn(item) for every item, jobs at a time, in daemon threads; the
    results in item order. The main thread only waits (so Ctrl-C/SIGTERM
    reach it at once): on KeyboardInterrupt every QEMU and helper process
    group is killed together and the exception goes on, nobody waits for
    the shards to finish."""
    results = [None] * len(items)
    todo = list(enumerate(items))
    lock = threading.Lock()
    errors = []

    def worker():
        while not INTERRUPTED.is_set():
            with lock:
                if not todo:
                    return
                i, it = todo.pop(0)
            try:
                results[i] = fn(it)
            except BaseException as e:  # re-raised in the main thread
                if not INTERRUPTED.is_set():
                    errors.append(e)
                return

    threads = [threading.Thread(target=worker, daemon=True, name="fwnet-job-%d" % k)
               for k in range(max(1, min(jobs, len(items))))]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.1)
    except KeyboardInterrupt:
        interrupt()
        raise
    if errors:
        raise errors[0]
    return results


def interrupt():
    """Ctrl-C/SIGTERM: every process group at once (QEMUs, netsim, dnsmasq,
    image peers), threads told to stop."""
    INTERRUPTED.set()
    qemu.kill_all()


def run_backend(name, scens, opts, run_dir, log, queue=None, share=None):
    """Every scenario on one backend: a result dict (results.json's backends[]).
    With a queue (schedule.Queue, `--jobs N`), the agent scenarios come from
    it, one at a time, shared with the other shards; scens are then this
    shard's firmware-level scenarios. share (snapshare.SnapshotShare): the
    shards' one boot."""
    os.makedirs(run_dir, exist_ok=True)
    be = backends.BACKENDS[name](opts)
    qemu_backend = name in QEMU_BACKENDS
    res = {"backend": name, "nic": opts.nic if qemu_backend else None,
           "net": (opts.net + (" seed=%d" % opts.seed if opts.net in ("netsim", "lan") else "")) if qemu_backend else None,
           "net_why": getattr(opts, "net_why", None) if qemu_backend else None,
           "isolation": opts.isolation, "quirks": opts.quirks or None, "scenarios": [],
           "run_dir": run_dir}
    PARTIAL[run_dir] = res
    wire_capabilities(be)
    scens = run_firmware_scenarios(name, scens, opts, run_dir, res, log)  # kind = "firmware": fwscenario.py

    def lacks(sc):
        return [m for m in be.unsupported(sc) if not golden_waives(opts, name, m)]
    from .schedule import Queue
    todo = queue or Queue(scens)  # alone: a queue of its own, in the given order
    skipped = todo.take_where(lacks)
    for sc in skipped:
        res["scenarios"].append({"name": sc.name, "verdict": "skip",
                                 "why": "%s backend lacks %s" % (name, ", ".join(lacks(sc)))})
    runnable = [sc for sc in todo.all if sc not in skipped]
    if todo.empty():
        return res
    if share is not None:
        be.snap_share, be.shard = share, run_dir
    log("[%s] starting%s" % (name, {"ovmf": " QEMU with OVMF", "rump": " QEMU with a multiboot image"}.get(name, "")))
    t0 = time.monotonic()
    try:
        be.start(runnable, run_dir)
    except (BackendError, qemu.QemuError) as e:
        for sc in ([] if queue else todo.drain()):  # a shared queue: see restart below
            res["scenarios"].append({"name": sc.name, "verdict": "error", "error": "start: %s" % e})
        res["restart_error"] = "start: %s" % e
        if share is not None:
            share.give_up("the first shard could not start: %s" % e)
        stop_backend(be)
        return res
    res["accel"] = getattr(be, "accel", None) or ("native" if name == "linux" else "virtual-time")
    if name == "ovmf":
        res["firmware"] = be.fw["name"]
        res["accel_why"] = be.accel_why
        res["boot_s"] = be.extra.get("boot_s")
        log("[%s] %s booted in %.1f s (accel %s: %s)" % (name, be.fw["name"], time.monotonic() - t0,
                                                          be.accel, be.accel_why))
    if name == "rump":
        res["image"] = be.image
        res["accel_why"] = be.accel_why
        res["boot_s"] = be.extra.get("boot_s")
        log("[%s] %s booted in %.1f s (accel %s: %s)" % (name, os.path.basename(be.image), time.monotonic() - t0,
                                                          be.accel, be.accel_why))
    res["facts"] = be.facts
    if getattr(be, "snap_want", None) is not None:
        res["snapshot"] = bool(getattr(be, "snap_active", False))
        res["snapshot_why"] = None if res["snapshot"] else be.snap_why
    while not INTERRUPTED.is_set():
        sc = todo.take()
        if sc is None:
            break
        t1 = time.monotonic()
        try:
            results, err = run_scenario(be, sc, opts.timeout)
        except (BackendError, OSError) as e:
            results, err = [], "setup: %s" % e
        if INTERRUPTED.is_set():  # its QEMU was killed under it: not a result
            break
        case = {"name": sc.name, "seconds": round(time.monotonic() - t1, 3),
                "steps": [{"line": r.line, "reply": r.reply, "ms": round(r.elapsed * 1000, 2)} for r in results]}
        if getattr(be, "restore_s", None) is not None:  # started from the snapshot (loadvm, agent resynced)
            case["restore_s"] = round(be.restore_s, 3)
        case.update(judge(name, sc, opts, results, err))
        case.update(scenario_artifacts(be, sc))
        check_quirks_fired(be, name, sc, case, err)  # the quirk profile's counters (agent `quirkstats`)
        res["scenarios"].append(case)
        log("[%s] %-28s %s%s" % (name, sc.name, case["verdict"].upper(),
                                 (": " + (case.get("error") or case["problems"][0])) if case["verdict"] in ("fail", "error") else ""))
        if (err or getattr(be, "wedged", False)) and qemu_backend and not todo.empty() and \
                "loadvm" not in (err or "") and callable(getattr(be, "restorable", None)) and be.restorable():
            # the next scenario's loadvm puts the machine back: no reboot
            log("[%s] restoring the snapshot after: %s" % (name, err or "a listed hang"))
            be.abandon(sc)
            res["restored"] = res.get("restored", 0) + 1
            continue
        if (err or getattr(be, "wedged", False)) and qemu_backend and not todo.empty():
            log("[%s] restarting QEMU after: %s" % (name, err or "a listed hang"))
            stop_backend(be)
            be = backends.BACKENDS[name](opts)
            wire_capabilities(be)
            try:
                be.start(runnable, run_dir)
            except (BackendError, qemu.QemuError) as e:
                # alone, the rest errors here; sharing a queue, the other
                # shards run it (and run() errors what nobody could)
                for sc2 in ([] if queue else todo.drain()):
                    res["scenarios"].append({"name": sc2.name, "verdict": "error", "error": "restart: %s" % e})
                res["restart_error"] = str(e)
                return res
    res["facts"] = be.facts  # after the scenarios: includes the protocols found
    stop_backend(be)
    res["extra"] = be.extra
    # Bulky per-run copies go unless asked for or something failed; logs,
    # command line and pcap always stay.
    if not opts.keep and all(c["verdict"] in ("pass", "skip") for c in res["scenarios"]):
        for f in ("disk.img", "vars.fd", "serial.sock", "disk.qcow2", "vars.qcow2", "qmp.sock"):
            try:
                os.unlink(os.path.join(run_dir, f))
            except OSError:
                pass
    if be.extra.get("leaks") not in (None, "none"):
        res["scenarios"].append({"name": "fake-firmware-leaks", "verdict": "fail",
                                 "problems": ["leaks at exit: %s" % be.extra["leaks"]]})
    return res


def run(opts, scens, out, stamp, iso_why, log):
    """Every backend of opts.backend (ovmf sharded over opts.jobs QEMUs), then
    results.json, junit.xml and summary.txt in out. Returns (run, summary
    text, whether anything failed)."""
    run = {"started": stamp, "isolation": opts.isolation, "isolation_detail": iso_why,
           "net": getattr(opts, "net", None), "net_why": getattr(opts, "net_why", None), "backends": []}
    t_run = time.monotonic()
    try:
        for b in opts.backend:
            if b == "ovmf" and opts.jobs > 1:
                # firmware-level scenarios split evenly; the rest from one
                # queue, longest first (schedule.py)
                from . import fwscenario, schedule
                fws = [sc for sc in scens if fwscenario.is_firmware(sc)]
                queue = schedule.Queue(schedule.order([sc for sc in scens if sc not in fws], b))
                dirs = [os.path.join(out, "%s-%d" % (b, k)) for k in range(opts.jobs)]
                from . import snapshare
                share = snapshare.SnapshotShare(os.path.join(out, "%s-share" % b),
                                                2 * getattr(opts, "boot_timeout", 90) + 60) \
                    if getattr(opts, "snapshot", True) else None
                try:
                    parts = run_parallel(lambda k: run_backend(b, fws[k::opts.jobs], opts, dirs[k], log, queue, share),
                                         range(opts.jobs), opts.jobs)
                except KeyboardInterrupt:
                    run["backends"].append(_merge([PARTIAL[d] for d in dirs if d in PARTIAL], scens))
                    raise
                why = next((p["restart_error"] for p in parts if p.get("restart_error")), "no shard left running")
                for sc in queue.drain():  # every shard's QEMU failed before the queue was empty
                    parts[0]["scenarios"].append({"name": sc.name, "verdict": "error", "error": why})
                run["backends"].append(_merge(parts, scens))
                schedule.save_history(b, run["backends"][-1]["scenarios"])
                if share is not None:
                    shutil.rmtree(share.dir, ignore_errors=True)  # copies of a shard's images
            else:
                try:
                    run["backends"].append(run_backend(b, scens, opts, os.path.join(out, b), log))
                    if b in QEMU_BACKENDS:  # the order of a later --jobs run (schedule.py)
                        from . import schedule
                        schedule.save_history(b, run["backends"][-1]["scenarios"])
                except KeyboardInterrupt:
                    interrupt()
                    if os.path.join(out, b) in PARTIAL:
                        run["backends"].append(PARTIAL[os.path.join(out, b)])
                    raise
    except KeyboardInterrupt:
        # what finished is still reported; then the interrupt goes on
        run["interrupted"] = True
        _write_reports(run, out, t_run)
        raise
    text = _write_reports(run, out, t_run)
    bad = any(c["verdict"] in ("fail", "error") for b in run["backends"] for c in b["scenarios"])
    return run, text, bad


def _merge(parts, scens):
    """Shards of one backend as one result, the scenarios in the run's order
    (whichever shard ran each)."""
    if not parts:
        return {"backend": "ovmf", "scenarios": []}
    merged = dict(parts[0])
    rank = {sc.name: i for i, sc in enumerate(scens)}
    merged["scenarios"] = sorted((c for p in parts for c in p["scenarios"]),
                                 key=lambda c: rank.get(c["name"], len(rank)))
    merged.pop("restart_error", None)
    snaps = [p.get("snapshot") for p in parts if "snapshot" in p]
    if snaps:
        merged["snapshot"] = all(snaps)
        merged["snapshot_why"] = next((p.get("snapshot_why") for p in parts if p.get("snapshot_why")), None)
    merged["restored"] = sum(p.get("restored", 0) for p in parts) or None
    return merged


def timing_lines(run, wall_s=None):
    """summary.txt's timing: median seconds per scenario and per restore."""
    lines = []
    for b in run["backends"]:
        secs = sorted(c["seconds"] for c in b["scenarios"] if "seconds" in c)
        rest = sorted(c["restore_s"] for c in b["scenarios"] if "restore_s" in c)
        if not secs:
            continue
        med = secs[len(secs) // 2] if len(secs) % 2 else (secs[len(secs) // 2 - 1] + secs[len(secs) // 2]) / 2
        line = "timing %s: %d scenario(s), median %.2f s/scenario, total %.1f s" % (b["backend"], len(secs), med, sum(secs))
        if "snapshot" in b:
            line += "; snapshots %s" % ("on" if b["snapshot"] else "off (%s)" % b.get("snapshot_why"))
        if rest:
            line += ", median restore (loadvm + resync) %.2f s over %d" % (rest[len(rest) // 2], len(rest))
        lines.append(line)
    if wall_s is not None:
        lines.append("wall time: %.1f s" % wall_s)
    return lines


def _write_reports(run, out, t_run):
    report.write_json(os.path.join(out, "results.json"), run)
    report.write_junit(os.path.join(out, "junit.xml"), run)
    text = "\n".join([report.summary(run)] + timing_lines(run, time.monotonic() - t_run) +
                     (["interrupted: results of the scenarios that finished"] if run.get("interrupted") else []))
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(text + "\n")
    return text


# ---- wire assertions and crafted packets (`wire`, `inject`, `respond` steps) ----
# These steps are the harness's own: run here, never sent to the agent, never
# in a golden. A wire step is judged after the scenario, on its capture, with
# t0 = the wall-clock time its referenced step started; inject/respond put
# frames built by craft.py onto the LAN through the backend's network.

LOCAL_OPS = ("wire", "inject", "respond")
WIRE_WORKERS = 4  # wire assertions judged at once (each a tcpdump/tshark process)
NOT_IN_GOLDEN = ("netsim",) + LOCAL_OPS
POLL_S = 0.03


def wire_capabilities(be):
    """`capture` (a QEMU guest's pcap, or the network's per-scenario one) and
    `inject` (the network puts frames on the LAN) on top of a backend's own."""
    net = getattr(be, "network", None)
    if net is None:
        return
    caps = {"capture"}
    if callable(getattr(net, "inject", None)):
        caps.add("inject")
    be.supports = set(be.supports) | caps


def golden_waives(opts, backend_name, missing):
    """Recording a golden on Linux ignores the wire steps (Linux has no
    capture): the agent steps are recorded, the wire steps are not judged."""
    return bool(getattr(opts, "update_golden", False)) and backend_name == "linux" and missing == "capture"


def substitute(value, results, match=None):
    """A parameter with `{match.LAYER.FIELD[+N]}`, `{match}`, `{match.LAYER}`
    (bytes as hex) or `{stepN.FIELD[+N]}` replaced by its value now."""
    from . import scenario

    def one(m):
        ref = m.group(1).strip()
        mm = scenario.SUBST_ITEM_RE.match(ref)
        src, n, path, sign, num = mm.groups()
        if src == "match":
            if match is None:
                raise BackendError("{%s}: no matched packet" % ref)
            if not path:
                v = bytes(match).hex()
            else:
                layer, _, field = path.partition(".")
                lay = match.getlayer(scenario.match_layer(layer))
                if lay is None:
                    raise BackendError("{%s}: the matched packet has no %s layer (%s)" % (ref, layer, match.summary()))
                v = lay.getfieldval(field) if field else bytes(lay)
        else:
            r = next((x for x in results if x.step.index == int(n)), None)
            if r is None or path not in r.reply:
                raise BackendError("{%s}: step %s replied no %s (%s)" % (ref, n, path, r.reply if r else "not run"))
            v = r.reply[path]
        if isinstance(v, (bytes, bytearray)):
            v = bytes(v).hex()
        if sign:
            try:
                v = int(str(v), 0) + (1 if sign == "+" else -1) * int(num, 0)
            except ValueError:
                raise BackendError("{%s}: %r is not a number" % (ref, v))
        return str(v)

    from .scenario import SUBST_RE
    return SUBST_RE.sub(one, value)


def build_frame(step, results, match=None):
    from . import craft
    params = {k: substitute(v, results, match) for k, v in step.args["params"].items()}
    try:
        return craft.build(step.args["template"], **params)
    except craft.CraftError as e:
        raise BackendError("%s: %s" % (step.op, e))


class Responder:
    """A `respond` step in the background: guest 1's capture (QEMU's
    filter-dump, written per packet) polled from the step's start; every
    frame matching the filter is answered with the template, up to count."""

    def __init__(self, be, step, results, pcap):
        import threading
        from . import wire
        self.be, self.step, self.results, self.pcap = be, step, results, pcap
        self.assertion = wire.WireAssertion(step.args["lang"], step.args["filter"], verify=False)
        self.sent, self.matched, self.errors = 0, [], []
        self.stop_ev = threading.Event()
        self.offset = os.path.getsize(pcap) if os.path.exists(pcap) else 0
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _new_packets(self):
        from . import wire
        if not os.path.exists(self.pcap):
            return None, []
        with open(self.pcap, "rb") as f:
            head = f.read(24)
            if len(head) < 24:
                return None, []
            f.seek(max(self.offset, 24))
            chunk = f.read()
        _, pkts = wire._pcap_records(head + chunk)
        self.offset = max(self.offset, 24) + sum(len(p.raw) for p in pkts)
        return head, pkts

    def _match(self, tmp, pkts):
        """The frames of pcap tmp (holding pkts) that match the filter."""
        from . import wire
        if self.assertion.lang == "tshark":  # frame numbers of the file itself
            return [pkts[m.number - 1].data for m in self.assertion._matches(tmp)]
        rc, out, err = wire._run([wire.TCPDUMP, "-r", tmp, "-w", "-", self.assertion.expr])
        if rc != 0:
            raise BackendError("tcpdump: %s" % err)
        if not out:
            return []
        fd, t2 = tempfile.mkstemp(prefix="fwnet-respond-", suffix=".pcap")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(out)
            return [p.data for p in wire.read_pcap(t2)]
        finally:
            os.unlink(t2)

    def _loop(self):
        from scapy.layers.l2 import Ether
        while not self.stop_ev.is_set() and self.sent < self.step.args["count"]:
            try:
                head, pkts = self._new_packets()
                if pkts:
                    fd, tmp = tempfile.mkstemp(prefix="fwnet-respond-", suffix=".pcap")
                    try:
                        with os.fdopen(fd, "wb") as f:
                            f.write(head + b"".join(p.raw for p in pkts))
                        hits = self._match(tmp, pkts)
                    finally:
                        os.unlink(tmp)
                    for data in hits:
                        if self.sent >= self.step.args["count"]:
                            break
                        pkt = Ether(data)
                        self.matched.append(pkt.summary())
                        frame = build_frame(self.step, self.results, pkt)
                        link = self.step.args["link"]
                        self.be.network.inject(frame, link=int(link) if link is not None else None)
                        self.sent += 1
            except Exception as e:  # reported at the scenario's end
                self.errors.append("%s: %s" % (type(e).__name__, e))
                return
            self.stop_ev.wait(POLL_S)

    def stop(self):
        self.stop_ev.set()
        self.thread.join(timeout=10)


class WireRun:
    """One scenario's wire/inject/respond steps on one backend."""

    def __init__(self, be, sc):
        self.be, self.sc = be, sc
        self.t_start = time.time()
        self.step_wall = {}
        self.responders = {}

    def step_started(self, step):
        self.step_wall[step.index] = time.time()

    def live_pcap(self):
        """Guest 1's capture as it grows (QEMU filter-dump flushes per packet)."""
        return os.path.join(getattr(self.be, "run_dir", ""), "capture.pcap")

    def run_step(self, step, results):
        t0 = time.monotonic()
        if step.op == "wire":
            reply = {"status": "pending"}
        elif step.op == "inject":
            frame = build_frame(step, results)
            link = step.args["link"]
            self.be.network.inject(frame, link=int(link) if link is not None else None)
            reply = {"status": "ok", "bytes": len(frame)}
        else:
            self.responders[step.index] = Responder(self.be, step, results, self.live_pcap())
            reply = {"status": "armed"}
        return StepResult(step, step.args["text"], reply, time.monotonic() - t0)

    def close(self):
        for r in self.responders.values():
            r.stop()

    def capture(self):
        """The scenario's pcap: the network's own (capture_path), else guest
        1's capture cut to the scenario's time (the fallback)."""
        from . import wire
        net = getattr(self.be, "network", None)
        cp = getattr(net, "capture_path", None)
        p = cp(self.sc) if callable(cp) else None
        if p and os.path.exists(p):
            return p
        if net is None or not getattr(self.be, "run_dir", None):
            return None
        src = self.live_pcap()
        if not os.path.exists(src):
            return None
        d = os.path.join(self.be.run_dir, "captures")
        os.makedirs(d, exist_ok=True)
        dst = os.path.join(d, self.sc.name + ".wire.pcap")
        # guest 1's capture is complete (QEMU writes every packet) but its
        # stamps lag wall time under TCG: aligned on netsim's pcap (real
        # time, but flushed only now and then) where there is one
        ref = os.path.join(self.be.run_dir, "netsim.pcap")
        off = clock_offset(src, ref) if os.path.exists(ref) else 0
        write_pcap_ns(dst, [p for p in wire.read_pcap(src)
                            if self.t_start - 0.05 <= p.time + off <= time.time() + 0.05], off)
        return dst

    def finish(self, results):
        """After the scenario: responders stopped and reported, wire steps judged."""
        from . import wire
        self.close()
        for r in results:
            resp = self.responders.get(r.step.index)
            if r.step.op == "respond" and resp:
                r.reply = {"status": "ok" if resp.sent and not resp.errors else "fail", "responded": resp.sent,
                           "matched": resp.matched[:8]}
                if resp.errors:
                    r.reply["message"] = "respond: " + "; ".join(resp.errors)
                elif not resp.sent:
                    r.reply["message"] = "respond: no guest packet matched %r" % r.step.args["filter"]
        wires = [r for r in results if r.step.op == "wire"]
        if not wires:
            return
        pcap = self.capture()
        todo = []
        for r in wires:
            a = r.step.wire
            if pcap is None:
                r.reply = {"status": "skipped", "message": "no capture on this backend"}
                continue
            t0 = self.t_start if a.ref in (None, "start") else self.step_wall.get(a.ref)
            if t0 is None:
                r.reply = {"status": "fail", "message": "%s:%d: %s: step %s never ran"
                           % (self.sc.path, r.step.line, a.text, a.ref)}
                continue
            try:
                if a.field and a.bits is None:  # the load's check may have come from its cache
                    a.bits = wire.field_bits(a.field)
            except wire.WireError as e:
                r.reply = {"status": "fail", "message": str(e)}
                continue
            todo.append((r, a, t0))
        # each assertion is a tcpdump/tshark run of its own on the finished
        # capture, independent of the others: run side by side
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(WIRE_WORKERS, len(todo)))) as ex:
            futs = [ex.submit(a.evaluate, pcap, t0) for _, a, t0 in todo]
        for (r, _, _), f in zip(todo, futs):
            try:
                res = f.result()
            except wire.WireError as e:
                r.reply = {"status": "fail", "message": str(e)}
                continue
            r.reply = {"status": "ok" if res.ok else "fail", "matched": len(res.matches), "counted": len(res.counted),
                       "capture": pcap}
            if res.values:
                r.reply["values"] = res.values[:64]
            if not res.ok:
                r.reply["message"] = res.message


def clock_offset(pcap, ref, tail=400):
    """Seconds to add to pcap's stamps to match ref's: the median over the
    last `tail` frames of pcap that ref holds too (same bytes)."""
    from . import wire
    seen = {}
    for p in wire.read_pcap(ref):
        seen.setdefault(p.data, p.ts_ns)
    diffs = sorted(seen[p.data] - p.ts_ns for p in wire.read_pcap(pcap)[-tail:] if p.data in seen)
    return diffs[len(diffs) // 2] / 1e9 if diffs else 0


def write_pcap_ns(path, pkts, offset_s=0):
    """A nanosecond pcap of wire.Packets, their stamps moved by offset_s."""
    import struct
    off = int(round(offset_s * 1e9))
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, pkts[0].linktype if pkts else 1))
        for p in pkts:
            ns = p.ts_ns + off
            f.write(struct.pack("<IIII", ns // 10 ** 9, ns % 10 ** 9, len(p.data), p.orig_len) + p.data)


def check_local_steps(sc, backend_name, results, net=None):
    """Failed wire and respond steps: problems, unless listed as deviations
    (expect = { status = "fail" })."""
    problems, used = [], []
    devs = deviations_for(sc, backend_name, net)
    for r in results:
        if r.step.op not in ("wire", "respond") or r.reply.get("status") in ("ok", "skipped", "pending", "armed"):
            continue
        d = devs.get(r.step.index)
        msg = r.reply.get("message") or "%s step failed" % r.step.op
        if listed(d, "status", r.reply.get("status")):
            used.append("step %d %s: %s (%s)" % (r.step.index, r.step.op, msg.splitlines()[0], d["why"]))
            continue
        problems.append("step %d (%s, line %d): %s" % (r.step.index, r.step.op, r.step.line, msg))
    return problems, used


# ---- firmware-level scenarios (kind = "firmware", fwscenario.py) ----

def run_firmware_scenarios(name, scens, opts, run_dir, res, log):
    """Run (ovmf on lan) or skip the firmware-level scenarios, each in a fresh
    QEMU of its own, appending their cases to res; the agent scenarios are
    returned for the usual path."""
    from . import fwscenario
    fws = [sc for sc in scens if fwscenario.is_firmware(sc)]
    if not fws:
        return scens
    if name != "ovmf" or getattr(opts, "net", None) != "lan":
        for sc in fws:
            res["scenarios"].append({"name": sc.name, "kind": "firmware", "verdict": "skip",
                                     "why": "firmware-level scenarios run on ovmf over --net lan only (here: %s, net %s)"
                                            % (name, getattr(opts, "net", None))})
    else:
        res["scenarios"].extend(fwscenario.run_all(fws, opts, run_dir, log))
    return [sc for sc in scens if not fwscenario.is_firmware(sc)]


# ---- quirk counters (scenario key `quirks_fired`; agent `quirkstats`, agent/PROTOCOL.md) ----

QUIRK_COUNTED_ON = ("ovmf", "fakes")


def check_quirks_fired(be, name, sc, case, err):
    """After a scenario with a quirk profile: the agent's counters of how often
    each quirk acted go into the case (`quirk_counters`); on ovmf every quirk
    the scenario lists in `quirks_fired` must have acted at least once, or the
    scenario fails naming it (a quirk that never fired tested nothing)."""
    if not sc.quirks or name not in QUIRK_COUNTED_ON or err:
        return
    r = None
    for attempt in (1, 2):  # a reply mangled on a busy serial line (CRC mismatch) is dropped: ask once more
        try:
            r = be.execute("quirkstats", 15)
            break
        except (BackendError, OSError) as e:
            r = None
            case["quirk_counters"] = {"error": str(e)}
    if r is None:
        be.wedged = True  # restart QEMU for the rest: a late reply must not answer the next command
        if sc.quirks_fired and name == "ovmf":
            case.setdefault("problems", []).append("quirks_fired: no quirk counters from the agent (%s)"
                                                   % case["quirk_counters"]["error"])
            case["verdict"] = "fail" if case["verdict"] == "pass" else case["verdict"]
        return
    if r.get("status") != "ok" or r.get("profile") in (None, "-"):
        case["quirk_counters"] = {"error": "no counters: %s" % r}
        if sc.quirks_fired and name == "ovmf":
            case.setdefault("problems", []).append("quirks_fired: the agent gave no quirk counters (%s)" % r)
            case["verdict"] = "fail" if case["verdict"] == "pass" else case["verdict"]
        return
    # the agent names only the quirks that acted (agent/PROTOCOL.md quirkstats): the rest are 0
    counters = {k.replace("_", "-"): int(v) for k, v in r.items()
                if k not in ("status", "op", "ret", "errno", "profile", "us") and str(v).isdigit()}
    case["quirk_counters"] = counters
    if name != "ovmf":
        return
    idle = [q for q in sc.quirks_fired if not counters.get(q)]
    case["quirks_fired"] = {q: counters.get(q, 0) for q in sc.quirks_fired}
    if idle:
        case.setdefault("problems", []).append(
            "quirks_fired: %s never acted on %s (counters: %s)" % (", ".join(idle), name,
                                                                  ", ".join("%s=%s" % kv for kv in sorted(counters.items()))))
        if case["verdict"] == "pass":
            case["verdict"] = "fail"
