"""The bug catalogue (../bugs/*.toml): loading and validating it, the verdict of
one bug on one firmware from its scenarios' results, and the table
`fwnet bugs` prints (bug x firmware -> present / absent / not applicable /
inconclusive, with evidence).

An entry (format in ../bugs/README.md) names scenarios in ../scenarios/ and
how "present" shows in their results (`detect.present-when`):
  deviation[:REGEX]  the scenario passed by a listed deviation for this backend
                     (matching REGEX): the documented buggy behaviour happened;
                     passed without one: absent
  fail[:REGEX]       the scenario's designated assertion failed (a problem
                     matching REGEX): present; passed: absent; failed otherwise:
                     inconclusive
  crash / hang       crashdet classified an exception/assert/reset (crash) or a
                     hang (or the step hung): present; passed: absent
A skipped scenario is "not applicable" (the backend lacks what it needs), a
missing one "inconclusive: scenario missing", an error that is not a crash or
hang "inconclusive".
"""
import glob
import json
import os
import re
import time

try:
    import tomllib
except ImportError:  # pragma: no cover (Debian 12's python3 is 3.11)
    tomllib = None

from . import build as bld
from . import crashdet

BUGS_DIR = os.path.join(bld.ROOT, "bugs")
DETECT_KINDS = ("wire", "api", "crash", "hang", "statistical")
PRESENT_WHEN = ("deviation", "fail", "crash", "hang")
REF_KEYS = ("cve", "bugzilla", "github", "commit", "advisory", "debian-patch", "report")
NEEDS = ("ipv4", "ipv6", "pxev6", "dhcpv6", "lan", "netsim", "debug-build", "dns", "tcp", "http")
NETS = ("auto", "lan", "slirp", "netsim", "tap")
STATUSES = ("present", "absent", "not applicable", "inconclusive")
REQUIRED = ("id", "title", "module", "references", "range", "provoke", "detect", "present-looks-like", "limits")


class CatalogueError(Exception):
    pass


class Entry:
    def __init__(self, path, data):
        self.path, self.data = path, data
        self.id = data["id"]
        self.title = data["title"]
        self.module = data["module"]
        self.references = data["references"]
        self.range = data["range"]
        self.detect = data["detect"]
        self.kind = self.detect["kind"]
        self.scenarios = list(self.detect["scenarios"])
        pw = self.detect.get("present-when") or {"crash": "crash", "hang": "hang"}.get(self.kind, "fail")
        self.present_when, _, rx = pw.partition(":")
        self.present_rx = re.compile(rx) if rx else None
        af = self.detect.get("also-fail")  # deviation entries: a failure matching this is present too
        self.also_fail = re.compile(af) if af else None
        self.net = self.detect.get("net")  # None: fwnet run's default
        self.applies = data.get("applies-to", {})
        self.needs = list(self.applies.get("needs", []))
        self.expected = dict(self.applies.get("expected", {}))
        # a pass that cannot show absence (a silent out-of-bounds read): inconclusive with this reason
        self.pass_inconclusive = self.detect.get("pass-inconclusive")

    def reference_text(self):
        out = []
        for k in REF_KEYS:
            v = self.references.get(k)
            if v:
                out += v if isinstance(v, list) else [v]
        return ", ".join(str(x) for x in out)


def _err(path, msg):
    return CatalogueError("%s: %s" % (path, msg))


def validate(path, data, variants=None):
    """Raise CatalogueError naming the file and what is wrong."""
    for k in REQUIRED:
        if k not in data or data[k] in ("", [], {}):
            what = {"references": "no reference (references: cve, bugzilla, github, commit...)",
                    "detect": "no detection method (detect: kind, scenarios)"}.get(k, "missing key %r" % k)
            raise _err(path, what)
    refs = data["references"]
    if not isinstance(refs, dict) or not any(refs.get(k) for k in REF_KEYS):
        raise _err(path, "no reference: references needs one of %s" % ", ".join(REF_KEYS))
    unknown = [k for k in refs if k not in REF_KEYS + ("note", "links")]
    if unknown:
        raise _err(path, "unknown reference key(s) %s (keys: %s)" % (", ".join(unknown), ", ".join(REF_KEYS)))
    rng = data["range"]
    if not isinstance(rng, dict) or "affected" not in rng or "fixed" not in rng:
        raise _err(path, "range needs affected and fixed (edk2 tags; fixed = \"open\" when not fixed)")
    det = data["detect"]
    if not isinstance(det, dict) or not det.get("kind"):
        raise _err(path, "no detection method: detect.kind missing (one of %s)" % ", ".join(DETECT_KINDS))
    if det["kind"] not in DETECT_KINDS:
        raise _err(path, "detect.kind %r unknown (one of %s)" % (det["kind"], ", ".join(DETECT_KINDS)))
    if not det.get("scenarios") or not isinstance(det["scenarios"], list):
        raise _err(path, "no detection method: detect.scenarios (scenario names) missing")
    if det.get("net") not in (None,) + NETS:
        raise _err(path, "detect.net %r unknown (one of %s)" % (det["net"], ", ".join(NETS)))
    pw = det.get("present-when")
    if pw is not None:
        base, _, rx = pw.partition(":")
        if base not in PRESENT_WHEN:
            raise _err(path, "detect.present-when %r unknown (one of %s, optionally :REGEX)"
                       % (pw, ", ".join(PRESENT_WHEN)))
        if rx:
            try:
                re.compile(rx)
            except re.error as e:
                raise _err(path, "detect.present-when regex %r: %s" % (rx, e))
    if det.get("also-fail") is not None:
        try:
            re.compile(det["also-fail"])
        except re.error as e:
            raise _err(path, "detect.also-fail regex %r: %s" % (det["also-fail"], e))
    app = data.get("applies-to", {})
    bad = [n for n in app.get("needs", []) if n not in NEEDS]
    if bad:
        raise _err(path, "applies-to.needs: unknown %s (known: %s)" % (", ".join(bad), ", ".join(NEEDS)))
    if variants is not None:
        badv = [v for v in app.get("expected", {}) if v not in list(variants) + ["installed"]]
        if badv:
            raise _err(path, "applies-to.expected: no such firmware variant %s (variants: %s, installed)"
                       % (", ".join(badv), ", ".join(variants)))
    for v in app.get("expected", {}).values():
        if v not in STATUSES:
            raise _err(path, "applies-to.expected: %r is not one of %s" % (v, ", ".join(STATUSES)))


def load_file(path, variants=None):
    if tomllib is None:
        raise CatalogueError("python3 >= 3.11 (tomllib) needed")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise _err(path, "unreadable: %s" % e)
    validate(path, data, variants)
    want = os.path.splitext(os.path.basename(path))[0]
    if data["id"].lower() != want.lower():
        raise _err(path, "id %r does not match the file name (%s.toml)" % (data["id"], want))
    return Entry(path, data)


def load(d=BUGS_DIR, variants=None):
    if variants is None:
        from . import fwbuild
        variants = list(fwbuild.VARIANTS)
    entries = [load_file(p, variants) for p in sorted(glob.glob(os.path.join(d, "*.toml")))]
    seen = {}
    for e in entries:
        if e.id in seen:
            raise _err(e.path, "id %s also in %s" % (e.id, seen[e.id]))
        seen[e.id] = e.path
    return entries


# ---- verdicts ----

def firmware_info(fw_arg):
    """What a --firmware argument is: label, variant and build type when it is
    a fwnet build (identity.json beside it)."""
    info = {"arg": fw_arg, "label": fw_arg or "installed", "variant": None, "build_type": None}
    if fw_arg:
        d = fw_arg if os.path.isdir(fw_arg) else os.path.dirname(os.path.abspath(fw_arg))
        ident = os.path.join(d, "identity.json")
        if os.path.exists(ident):
            with open(ident) as f:
                j = json.load(f)
            info.update(label=j.get("variant", fw_arg), variant=j.get("variant"), build_type=j.get("build_type"),
                        sha256=j.get("sha256", {}).get("OVMF_CODE_4M.fd"))
    if info["variant"] is None and (not fw_arg or "60-edk2-x86_64" in fw_arg or fw_arg.startswith("/usr/share/OVMF")):
        info.update(label="installed", build_type="RELEASE")
    return info


def applicable(entry, fw):
    """None, or why the entry cannot be judged on this firmware."""
    if "debug-build" in entry.needs and fw.get("build_type") != "DEBUG":
        return "needs a DEBUG build (ASSERTs and debug output)"
    return None


def scenario_verdict(entry, case):
    """(status, evidence) for one scenario's result case (results.json's
    scenarios[] item; None: the scenario does not exist)."""
    if case is None:
        return "inconclusive", "scenario missing"
    v = case.get("verdict")
    crash = case.get("crash")
    if v == "skip":
        return "not applicable", case.get("why", "skipped")
    if crash:
        kind = crash.get("kind")
        text = crash.get("summary") or kind
        if crash.get("evidence"):
            text += " [%s]" % crash["evidence"]
        if (entry.present_when == "crash" and kind in ("exception", "assert", "reset")) or \
           (entry.kind == "crash" and kind in ("exception", "assert", "reset")) or \
           (entry.present_when == "hang" and kind == "hang"):
            return "present", text
        return "inconclusive", "%s (the entry detects %s)" % (text, entry.present_when)
    hung = any(s.get("reply", {}).get("status") == "hang" for s in case.get("steps", []))
    if entry.present_when == "hang" and (hung or (v == "error" and case.get("steps")
                                                  and "no reply within" in str(case.get("error")))):
        return "present", "step hung: %s" % (case.get("error") or "listed hang")
    if v == "error":
        return "inconclusive", "error: %s" % case.get("error")
    if v == "pass":
        devs = case.get("deviations") or []
        if entry.present_when == "deviation":
            hit = [d for d in devs if entry.present_rx is None or entry.present_rx.search(d)]
            if hit:
                return "present", "listed deviation: %s" % "; ".join(hit)
        if entry.pass_inconclusive:
            return "inconclusive", "scenario passed, but: %s" % entry.pass_inconclusive
        return "absent", "scenario passed" + _pass_evidence(case) + (
            "" if not devs else " (%d other deviation(s))" % len(devs))
    if v == "fail":
        probs = case.get("problems") or []
        if entry.present_when == "fail":
            hit = [p for p in probs if entry.present_rx is None or entry.present_rx.search(p)]
            if hit:
                return "present", hit[0]
        if entry.also_fail is not None:
            hit = [p for p in probs if entry.also_fail.search(p)]
            if hit:
                return "present", hit[0]
        return "inconclusive", "failed otherwise: %s" % (probs[0] if probs else "?")
    return "inconclusive", "verdict %r" % v


def _pass_evidence(case):
    """What a passing firmware-level scenario saw (its steps' messages)."""
    if case.get("kind") != "firmware":
        return ""
    msgs = [st.get("reply", {}).get("msg") for st in case.get("steps", [])]
    msgs = [m.splitlines()[0] for m in msgs if m and not m.startswith(("matched", "none in"))][:2]
    return (": " + "; ".join(msgs)) if msgs else ""


def judge_values(values, check="random", bits=None):
    """A statistical entry judged from values read off a capture (ISNs, ports,
    DNS ids), with wire.py's checks: ("present"|"absent", why). The check is
    what a fixed firmware passes (default: `random`)."""
    from . import wire
    if len(values) < wire.MIN_RANDOM_N:
        return "inconclusive", "%d values, need >= %d" % (len(values), wire.MIN_RANDOM_N)
    ok, why = wire.run_check(check, list(values), bits)
    return ("absent" if ok else "present"), "%s over %d values: %s" % (check, len(values), why)


def combine(parts):
    """One status from several scenarios: any present -> present; all absent ->
    absent; all not applicable -> not applicable; else inconclusive."""
    if len(set(parts)) == 1:
        return parts[0]
    st = [p[0] for p in parts]
    for want in ("present",):
        if want in st:
            return want, "; ".join(e for s, e in parts if s == want)
    if st and all(s == "absent" for s in st):
        return "absent", "; ".join(e for _, e in parts)
    if st and all(s == "not applicable" for s in st):
        return "not applicable", "; ".join(e for _, e in parts)
    return "inconclusive", "; ".join("%s: %s" % (s, e) for s, e in parts if s != "absent") or "no scenario"


def verdict(entry, fw, cases):
    """(status, evidence) of entry on firmware fw (firmware_info) given
    {scenario name: case or None}."""
    why = applicable(entry, fw)
    if why:
        return "not applicable", why
    return combine([scenario_verdict(entry, cases.get(s)) for s in entry.scenarios])


def expected_mark(entry, fw, status):
    exp = entry.expected.get(fw.get("variant") or fw.get("label"))
    if exp is None:
        return ""
    return "" if exp == status else " (expected %s)" % exp


def unexpected(entries, firmwares, verdicts):
    """(id, label, status, expected, evidence) for every verdict that is not
    what its entry expects for that build; a missing scenario is not counted."""
    out = []
    for e in entries:
        for fw in firmwares:
            st, ev = verdicts.get((e.id, fw["label"]), ("inconclusive", "not run"))
            exp = e.expected.get(fw.get("variant") or fw.get("label"))
            if exp and exp != st and ev != "scenario missing":
                out.append((e.id, fw["label"], st, exp, ev))
    return out


def table(entries, firmwares, verdicts, evidence=True, width=60):
    """The bug x firmware table. verdicts: {(id, label): (status, evidence)}."""
    labels = [f["label"] for f in firmwares]
    idw = max([len(e.id) for e in entries] + [3])
    colw = [max(len(l), 14) for l in labels]
    lines = ["%-*s  %s" % (idw, "bug", "  ".join("%-*s" % (w, l) for l, w in zip(labels, colw)))]
    for e in entries:
        cells = []
        for fw, w in zip(firmwares, colw):
            st, _ = verdicts.get((e.id, fw["label"]), ("inconclusive", "not run"))
            cells.append("%-*s" % (w, st + ("*" if expected_mark(e, fw, st) else "")))
        lines.append("%-*s  %s" % (idw, e.id, "  ".join(cells)))
    if any(expected_mark(e, fw, verdicts.get((e.id, fw["label"]), ("?",))[0])
           for e in entries for fw in firmwares):
        lines.append("* not what the entry expects for this build (see evidence)")
    if evidence:
        lines.append("")
        lines.append("evidence:")
        for e in entries:
            for fw in firmwares:
                st, ev = verdicts.get((e.id, fw["label"]), ("inconclusive", "not run"))
                ev = ev if len(ev) <= width * 3 else ev[:width * 3 - 3] + "..."
                lines.append("  %s on %s: %s%s: %s" % (e.id, fw["label"], st, expected_mark(e, fw, st), ev))
    return "\n".join(lines)


def listing(entries):
    out = []
    for e in entries:
        out.append("%s  %s" % (e.id, e.title))
        out.append("    module %s; affected %s -> fixed %s" % (e.module, e.range["affected"], e.range["fixed"]))
        out.append("    references: %s" % e.reference_text())
        out.append("    detect: %s via %s (present when %s)%s" % (
            e.kind, ", ".join(e.scenarios), e.present_when + (":" + e.present_rx.pattern if e.present_rx else ""),
            ("; needs " + ", ".join(e.needs)) if e.needs else ""))
        if e.expected:
            out.append("    expected: %s" % ", ".join("%s=%s" % kv for kv in e.expected.items()))
    return "\n".join(out)


# ---- running (one firmware at a time, through runner.run_backend; the matrix may replace this loop) ----

def _post_classify(case, run_dir, end_time, step_timeout):
    """Crash/hang classification after the fact, from the run's files, for a
    case that errored or hung (the runner does not call crashdet yet)."""
    hung = any(s.get("reply", {}).get("status") == "hang" for s in case.get("steps", []))
    if case.get("verdict") not in ("error", "fail") and not hung:
        return None

    # a hang needs the agent to have answered before (a guest that never came up is a setup error)
    due = end_time - step_timeout if (hung or ("no reply within" in str(case.get("error"))
                                               and case.get("steps"))) else None
    # the logs' mtimes stand for the last console byte, the capture for the last frame
    v = crashdet.classify_run(run_dir, end_time, reply_due_since=due,
                              hang_after=min(crashdet.HANG_AFTER, step_timeout * 0.8))
    if v is not None and v.kind == "hang":
        v.evidence += " (after the fact, from %s)" % run_dir
    if v is None:
        return None
    crashdet.write_dump(v, run_dir, case["name"])
    d = v.as_dict()
    d["summary"] = v.summary()
    return d


def _load_scenarios(scen_dir, log):
    from . import scenario
    have = {}
    for p in glob.glob(os.path.join(scen_dir, "*.toml")):
        try:
            s = scenario.Scenario(p)
            have[s.name] = s
        except scenario.ScenarioError as e:
            log("fwnet bugs: %s" % e)
    return have


def _run_group(fw, net, scens, make_opts, out, log):
    """One firmware's scenarios for one --net: one QEMU for the agent
    scenarios (restarted after an error, as fwnet run does), a fresh one for
    each firmware-level scenario. Returns ({name: case}, raw run record)."""
    from . import runner
    opts = make_opts(fw["arg"], net)
    run_dir = os.path.join(out, fw["label"], net or "default")
    t0 = time.time()
    res = runner.run_backend("ovmf", scens, opts, run_dir, log)
    starts = [c for c in res["scenarios"] if str(c.get("error", "")).startswith("start:")]
    if starts and len(starts) == len([c for c in res["scenarios"] if c.get("kind") != "firmware"]):
        # a network left busy by the previous run (e.g. a listener not yet released): once more
        log("[bugs] %s: %s; retrying the agent scenarios once" % (fw["label"], starts[0]["error"]))
        time.sleep(3)
        again = [sc for sc in scens if getattr(sc, "kind", "agent") != "firmware"]
        res2 = runner.run_backend("ovmf", again, opts, run_dir + "-retry", log)
        res["scenarios"] = [c for c in res["scenarios"] if c.get("kind") == "firmware"] + res2["scenarios"]
    cases = {}
    for c in res["scenarios"]:
        if c.get("kind") != "firmware":
            c.setdefault("crash", _post_classify(c, run_dir, time.time(), opts.timeout))
            if c["crash"] is None:
                del c["crash"]
        cases[c["name"]] = c
    return cases, {"firmware": fw, "net": net, "result": res, "seconds": round(time.time() - t0, 1)}


def run_catalogue(entries, firmwares, make_opts, scen_dir, out, log=print, jobs=None):
    """Every entry's scenarios on every firmware: per firmware and --net one
    run of all their scenarios (each scenario once, whatever the number of
    entries naming it); firmwares in parallel with jobs > 1 (each thread in
    a network namespace of its own). make_opts(fw_arg, net) -> the run
    options. Returns {(id, label): (status, evidence)} and writes
    out/bugs.json."""
    import concurrent.futures
    if jobs is None:  # two firmwares side by side by default (FWNET_BUGS_JOBS=1: one after the other)
        jobs = int(os.environ.get("FWNET_BUGS_JOBS", "2"))
    have = _load_scenarios(scen_dir, log)
    verdicts, raw = {}, []

    def one_firmware(fw):
        groups = {}
        nets = {e.net for e in entries if e.net}
        for e in entries:
            if applicable(e, fw):
                continue
            # the run's default network is lan where it can be made: one group (one QEMU) for both
            g = groups.setdefault(e.net or ("lan" if nets == {"lan"} else None), [])
            for s in e.scenarios:
                if s in have and have[s] not in g:
                    g.append(have[s])
        cases, runs = {}, []
        for net, scens in groups.items():
            if scens:
                c, r = _run_group(fw, net, scens, make_opts, out, log)
                cases.update(c)
                runs.append(r)
        out_v = {}
        for e in entries:
            why = applicable(e, fw)
            out_v[(e.id, fw["label"])] = ("not applicable", why) if why else \
                verdict(e, fw, {s: cases.get(s) for s in e.scenarios})
            log("[bugs] %s on %s: %s" % (e.id, fw["label"], out_v[(e.id, fw["label"])][0]))
        return out_v, runs

    if jobs > 1 and len(firmwares) > 1:
        with concurrent.futures.ThreadPoolExecutor(min(jobs, len(firmwares))) as ex:
            parts = list(ex.map(one_firmware, firmwares))
    else:
        parts = [one_firmware(fw) for fw in firmwares]
    for v, runs in parts:
        verdicts.update(v)
        raw.extend(runs)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "bugs.json"), "w") as f:
        json.dump({"verdicts": [{"bug": k[0], "firmware": k[1], "status": v[0], "evidence": v[1]}
                                for k, v in verdicts.items()], "runs": raw}, f, indent=1, default=str)
    return verdicts


def default_firmwares():
    """The installed firmware and every cached fwnet build (cache only: never builds)."""
    from . import fwbuild
    fws = [firmware_info(None)]
    for c in fwbuild.cached_builds():
        fws.append(firmware_info(os.path.join(c["dir"], fwbuild.descriptor_name(c["variant"]))))
    return fws
