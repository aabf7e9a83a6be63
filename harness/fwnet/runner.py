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
import sys
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
    addrs = backend.begin(sc)
    step = None
    try:
        for step in sc.steps:
            t0 = time.monotonic()
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
        backend.end(sc, fds)
        return results, None
    except BackendError as e:
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
    devs = dict(sc.deviations.get(backend_name, {}))
    if net:
        devs.update(sc.deviations.get("%s-%s" % (backend_name, net), {}))
    return devs


def listed(dev, key, got):
    """Whether a listed deviation covers this value of key; its value
    "absent" means the backend gives no such field at all."""
    return bool(dev) and key in dev["expect"] and str(dev["expect"][key]) == ("absent" if got is None else str(got))


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
    if golden is None:
        return ("fail" if problems else "pass"), problems, used
    # goldens hold agent steps only: netsim control steps are not in them
    mine = [m for m in to_golden(sc, results) if m["op"] != "netsim"]
    golden = [g for g in golden if g["op"] != "netsim"]
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
        json.dump(to_golden(sc, results), f, indent=1)
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
    return {"verdict": v, "problems": problems, "deviations": used}


def run_backend(name, scens, opts, run_dir, log):
    """Every scenario on one backend: a result dict (results.json's backends[])."""
    os.makedirs(run_dir, exist_ok=True)
    be = backends.BACKENDS[name](opts)
    qemu_backend = name in QEMU_BACKENDS
    res = {"backend": name, "nic": opts.nic if qemu_backend else None,
           "net": (opts.net + (" seed=%d" % opts.seed if opts.net == "netsim" else "")) if qemu_backend else None,
           "isolation": opts.isolation, "quirks": opts.quirks or None, "scenarios": [],
           "run_dir": run_dir}
    runnable = []
    for sc in scens:
        missing = be.unsupported(sc)
        if missing:
            res["scenarios"].append({"name": sc.name, "verdict": "skip",
                                     "why": "%s backend lacks %s" % (name, ", ".join(missing))})
        else:
            runnable.append(sc)
    if not runnable:
        return res
    log("[%s] starting%s" % (name, {"ovmf": " QEMU with OVMF", "rump": " QEMU with a multiboot image"}.get(name, "")))
    t0 = time.monotonic()
    try:
        be.start(runnable, run_dir)
    except (BackendError, qemu.QemuError) as e:
        for sc in runnable:
            res["scenarios"].append({"name": sc.name, "verdict": "error", "error": "start: %s" % e})
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
    for i, sc in enumerate(runnable):
        t1 = time.monotonic()
        try:
            results, err = run_scenario(be, sc, opts.timeout)
        except (BackendError, OSError) as e:
            results, err = [], "setup: %s" % e
        case = {"name": sc.name, "seconds": round(time.monotonic() - t1, 3),
                "steps": [{"line": r.line, "reply": r.reply, "ms": round(r.elapsed * 1000, 2)} for r in results]}
        case.update(judge(name, sc, opts, results, err))
        res["scenarios"].append(case)
        log("[%s] %-28s %s%s" % (name, sc.name, case["verdict"].upper(),
                                 (": " + (case.get("error") or case["problems"][0])) if case["verdict"] in ("fail", "error") else ""))
        if (err or getattr(be, "wedged", False)) and qemu_backend and i + 1 < len(runnable):
            log("[%s] restarting QEMU after: %s" % (name, err or "a listed hang"))
            stop_backend(be)
            be = backends.BACKENDS[name](opts)
            try:
                be.start(runnable[i + 1:], run_dir)
            except (BackendError, qemu.QemuError) as e:
                for sc2 in runnable[i + 1:]:
                    res["scenarios"].append({"name": sc2.name, "verdict": "error", "error": "restart: %s" % e})
                return res
    res["facts"] = be.facts  # after the scenarios: includes the protocols found
    stop_backend(be)
    res["extra"] = be.extra
    # Bulky per-run copies go unless asked for or something failed; logs,
    # command line and pcap always stay.
    if not opts.keep and all(c["verdict"] in ("pass", "skip") for c in res["scenarios"]):
        for f in ("disk.img", "vars.fd", "serial.sock"):
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
    run = {"started": stamp, "isolation": opts.isolation, "isolation_detail": iso_why, "backends": []}
    for b in opts.backend:
        if b == "ovmf" and opts.jobs > 1:
            shards = [scens[i::opts.jobs] for i in range(opts.jobs)]
            with concurrent.futures.ThreadPoolExecutor(opts.jobs) as ex:
                parts = list(ex.map(lambda k: run_backend(b, shards[k], opts, os.path.join(out, "%s-%d" % (b, k)), log),
                                    range(opts.jobs)))
            merged = dict(parts[0])
            merged["scenarios"] = [c for p in parts for c in p["scenarios"]]
            run["backends"].append(merged)
        else:
            run["backends"].append(run_backend(b, scens, opts, os.path.join(out, b), log))
    report.write_json(os.path.join(out, "results.json"), run)
    report.write_junit(os.path.join(out, "junit.xml"), run)
    text = report.summary(run)
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(text + "\n")
    bad = any(c["verdict"] in ("fail", "error") for b in run["backends"] for c in b["scenarios"])
    return run, text, bad
