"""fwnet matrix: the scenarios on every cell of a matrix (firmware × NIC ×
fw_cfg toggles × quirk profiles, on one backend), one grid.

A matrix is named in a definition file (ci/matrix.toml):

    [matrix.default]
    backend = "ovmf"                     # ovmf, or fakes (quirk profiles vary)
    firmware = ["/usr/share/OVMF/OVMF_CODE_4M.fd", "50-edk2-x86_64-secure"]
    nic = ["virtio", "e1000"]
    fw_cfg = ["", "opt/org.tianocore/IPv6Support=n"]   # toggles, ';' between several
    quirks = [""]
    scenarios = ["tcp-connect-ok"]       # names or tags (default: all)

or given on the command line (--firmware/--nic/--fw-cfg/--quirks, each
repeatable). Every cell runs through runner.run_backend with its own
options; its results are out/cells/<cell-id>/ (results.json, junit.xml,
logs, capture). The matrix writes matrix.json, summary.txt, junit.xml and
grid.html (grid.py). --shard I/N runs the I-th of N deterministic parts
(units of cell × scenario, sorted by cell id then scenario name); `fwnet
merge` joins shards into the report an unsharded run writes.

A cell that cannot run (missing CODE or vars, an unknown mapping, a NIC
without ROM, no boot within the deadline) errors with its reason; the rest
of the matrix runs, and the exit status says the run was incomplete.
"""
import argparse
import copy
import json
import os
import re
import subprocess
import threading
import time
import tomllib

from . import expectations, report, runner

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFINITION = os.path.join(ROOT, "ci", "matrix.toml")
VOLATILE = {"seconds", "ms", "run_dir", "started", "boot_s", "wall_s", "accel_why", "extra", "facts",
            "isolation", "isolation_detail", "shard", "stamp", "out"}


class MatrixError(Exception):
    pass


def load_definition(path=DEFINITION):
    with open(path, "rb") as f:
        return tomllib.load(f)


def named(name, path=DEFINITION, _seen=()):
    """A matrix definition; `from = "OTHER"` takes OTHER's keys, its own
    override them (default-booting: default's cells, the known non-booting
    ones listed in `cannot_boot` with their reason instead of run)."""
    d = load_definition(path)
    m = d.get("matrix", {}).get(name)
    if m is None:
        raise MatrixError("no matrix %r in %s (known: %s)" % (name, path, ", ".join(sorted(d.get("matrix", {})))))
    if m.get("from"):
        if m["from"] in _seen or m["from"] == name:
            raise MatrixError("matrix %r: `from` loops (%s)" % (name, " -> ".join(_seen + (name, m["from"]))))
        base = named(m["from"], path, _seen + (name,))
        base.pop("name", None)
        m = dict(base, **{k: v for k, v in m.items() if k != "from"}, derived_from=m["from"])
    return dict(m, name=name)


def cannot_boot(m, cell):
    """The reason a matrix definition lists for a cell that cannot boot
    (`cannot_boot`: {cell-id glob: reason}), or None."""
    import fnmatch
    for pat, why in sorted((m.get("cannot_boot") or {}).items()):
        if fnmatch.fnmatchcase(cell.id, pat):
            return why
    return None


def slug(text):
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_") or "-"


def fw_slug(arg):
    if arg is None:
        return "default"
    b = os.path.basename(arg.rstrip("/"))
    return slug(b[:-5] if b.endswith(".json") else b)


class Cell:
    def __init__(self, backend, firmware=None, nic=None, fw_cfg="", quirks=""):
        self.backend, self.firmware, self.nic, self.fw_cfg, self.quirks = backend, firmware, nic, fw_cfg or "", quirks or ""
        parts = [backend]
        if backend in runner.QEMU_BACKENDS:
            parts += [fw_slug(firmware), nic or "virtio"]
        if self.fw_cfg:
            parts.append("cfg-" + slug(self.fw_cfg.replace("opt/org.tianocore/", "")))
        if self.quirks:
            parts.append("q-" + slug(self.quirks))
        self.id = ".".join(parts)

    def describe(self):
        d = {"id": self.id, "backend": self.backend, "firmware": self.firmware, "nic": self.nic,
             "fw_cfg": self.fw_cfg or None, "quirks": self.quirks or None}
        return {k: v for k, v in d.items() if v is not None}

    def fw_cfg_list(self):
        """fw_cfg toggles as QEMU's -fw_cfg values: name=opt/...,string=v"""
        out = []
        for t in [x.strip() for x in self.fw_cfg.split(";") if x.strip()]:
            k, _, v = t.partition("=")
            out.append("name=%s,string=%s" % (k, v or "y"))
        return out


def cells_of(m):
    """The cells of a matrix definition, in a stable order (by id)."""
    backend = m.get("backend", "ovmf")
    qemu_b = backend in runner.QEMU_BACKENDS
    fws = (m.get("firmware") or [None]) if qemu_b else [None]
    nics = (m.get("nic") or ["virtio"]) if qemu_b else [None]
    cells = {}
    for fw in fws:
        for nic in nics:
            for cfg in m.get("fw_cfg") or [""]:
                for q in m.get("quirks") or [""]:
                    c = Cell(backend, fw, nic, cfg, q)
                    cells.setdefault(c.id, c)
    return [cells[k] for k in sorted(cells)]


def parse_shard(text):
    m = re.match(r"^(\d+)/(\d+)$", text or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise argparse.ArgumentTypeError("--shard takes I/N with 1 <= I <= N, not %r" % text)
    return int(m.group(1)), int(m.group(2))


def units(cells, scens):
    """Every (cell, scenario) of the matrix, sorted by cell id then scenario."""
    return [(c, s) for c in sorted(cells, key=lambda c: c.id) for s in sorted(scens, key=lambda s: s.name)]


def shard_units(cells, scens, shard):
    """The units of shard (I, N): every N-th unit from the I-th."""
    us = units(cells, scens)
    if not shard:
        return us
    i, n = shard
    return us[i - 1::n]


def qemu_version():
    try:
        r = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True, timeout=10)
        return r.stdout.splitlines()[0].strip() if r.stdout else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def nic_identity(nic):
    from . import firmware, qemu
    if nic in (None, "virtio"):
        return {"model": nic or "virtio", "rom": None, "driver_expected": "OVMF VirtioNetDxe"} if nic else None
    rom = os.path.join(qemu.IPXE_DIR, qemu.IPXE_NICS[nic][1]) if nic in qemu.IPXE_NICS else \
        os.path.join(qemu.IPXE_DIR, "efi-%s.rom" % nic)
    out = {"model": nic, "rom": rom, "driver_expected": "iPXE"}
    if os.path.exists(rom):
        out["rom_sha256"] = firmware.sha256(rom)
        out["rom_efi_arches"] = rom_efi_arches(rom)
        out.update({"rom_" + k: v for k, v in firmware.package_of(rom).items()})
    return out


EFI_MACHINES = {0x8664: "x86_64", 0x14c: "i386", 0x200: "ia64", 0xaa64: "aarch64"}


def rom_efi_arches(path):
    """The architectures of the EFI drivers in a PCI option ROM (its images:
    0x55AA, PCIR code type 3 = EFI, the EFI header's machine type)."""
    try:
        data = open(path, "rb").read()
    except OSError:
        return []
    out, o = [], 0
    while o + 0x1a <= len(data) and data[o:o + 2] == b"\x55\xaa":
        pcir = o + int.from_bytes(data[o + 0x18:o + 0x1a], "little")
        if data[pcir:pcir + 4] != b"PCIR":
            break
        if data[pcir + 0x14] == 3 and int.from_bytes(data[o + 4:o + 8], "little") == 0x0EF1:
            m = int.from_bytes(data[o + 0xa:o + 0xc], "little")
            out.append(EFI_MACHINES.get(m, "0x%x" % m))
        length = int.from_bytes(data[pcir + 0x10:pcir + 0x12], "little") * 512
        if data[pcir + 0x15] & 0x80 or not length:
            break
        o += length
    return out


def cell_opts(base, cell, scens_dir):
    o = copy.copy(base)
    o.firmware, o.nic, o.quirks = cell.firmware, cell.nic or "virtio", cell.quirks
    o.fw_cfg = cell.fw_cfg_list()
    o.update_golden = False
    o.scenario_dir = scens_dir
    o.jobs = 1
    return o


def run_cell(base, cell, scens, out, log):
    """One cell: its scenarios through runner.run_backend, its results in
    out/cells/<id>/. Returns the cell's record (matrix.json's cells[])."""
    from . import firmware
    cdir = os.path.join(out, "cells", cell.id)
    os.makedirs(cdir, exist_ok=True)
    rec = cell.describe()
    t0 = time.monotonic()
    host = {}
    if cell.backend in runner.QEMU_BACKENDS:
        try:
            fws = firmware.resolve(cell.firmware, getattr(base, "firmware_dir", None) or ())
            if len(fws) == 1 and not fws[0].get("error"):
                host = firmware.identity(fws[0])
        except firmware.FirmwareError:
            pass  # the backend names the reason when it starts
        rec["nic_identity"] = nic_identity(cell.nic)
    expectations.set_identity(expectations.complete(host) if host else None)
    opts = cell_opts(base, cell, base.scenario_dir)
    res = runner.run_backend(cell.backend, scens, opts, cdir, lambda m: log("[%s] %s" % (cell.id, m)))
    expectations.set_identity(None)
    rec["identity"] = expectations.cell_identity(res) if cell.backend in runner.QEMU_BACKENDS else {}
    rec["wall_s"] = round(time.monotonic() - t0, 2)
    rec["result"] = res
    errs = [c.get("error", "") for c in res["scenarios"] if c["verdict"] == "error"]
    if errs and len(errs) == len(res["scenarios"]) and all(e.startswith("start:") for e in errs):
        rec["error"] = errs[0][len("start: "):]  # the cell did not boot: its reason
    report.write_json(os.path.join(cdir, "results.json"), {"cell": cell.id, "backends": [res]})
    return rec


def listed_cell(cell, scens, why):
    """A cell the definition lists as unable to boot: every scenario skips
    with the reason (reported, not dropped; not booted again)."""
    rec = cell.describe()
    rec["cannot_boot"] = why
    rec["wall_s"] = 0
    rec["result"] = {"backend": cell.backend, "nic": cell.nic, "scenarios": [
        {"name": s.name, "verdict": "skip", "why": "cannot boot (ci/matrix.toml cannot_boot): %s" % why}
        for s in scens]}
    return rec


# ---- the boot probe (fwnet matrix NAME --probe) ----

PROBE = "boot-probe"  # the probe's one pseudo-scenario in the grid
SECURE_BOOT_RE = re.compile(rb"[^\r\n]*(?:Access Denied|Security Violation)[^\r\n]*")
ESC_RE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]")
PROBE_STATES = ("boots", "missing-file", "no-agent", "secure-boot-refused", "nic-not-bound", "timeout",
                "qemu-exit", "error")


def classify_boot_failure(err, serial):
    """(state, reason) of a boot that did not reach the agent's hello:
    OVMF's "Access Denied"/"Security Violation" on serial (Secure Boot
    refused the unsigned agent), no reply within the deadline, QEMU gone."""
    text = ESC_RE.sub(b"", serial or b"")
    m = SECURE_BOOT_RE.search(text)
    if m:
        line = m.group(0).decode(errors="replace").strip()
        return "secure-boot-refused", "Secure Boot refused the unsigned agent (serial: %s)" % line[:160]
    if "no reply within" in err:
        last = [l.strip() for l in text.decode(errors="replace").replace("\r", "\n").split("\n") if l.strip()]
        return "timeout", "no agent hello: %s%s" % (err, ("; last serial line: %s" % last[-1][:120]) if last else
                                                        "; nothing on serial")
    if "exited" in err or "stopped" in err or "serial closed" in err:
        return "qemu-exit", err
    return "error", err


def probe_cell(base, cell, out, log):
    """Boots one cell once: waits for the agent's hello and fwinfo, and
    records boot seconds, firmware identity and the bound NIC driver, or
    the state and reason it cannot boot (PROBE_STATES)."""
    from . import backends, build, firmware, qemu
    from .backend import BackendError
    cdir = os.path.join(out, "cells", cell.id)
    os.makedirs(cdir, exist_ok=True)
    rec = cell.describe()
    t0 = time.monotonic()
    pr = {"state": None, "boot_s": None, "reason": None}
    ident = {}
    be = None

    def done(state, reason=None):
        pr["state"], pr["reason"] = state, reason
        pr["wall_s"] = round(time.monotonic() - t0, 2)
        rec["probe"], rec["identity"], rec["wall_s"] = pr, ident, pr["wall_s"]
        case = {"name": PROBE, "seconds": pr["wall_s"], "verdict": "pass" if state == "boots" else "error",
                "probe": dict(pr)}
        if state != "boots":
            case["error"] = "%s: %s" % (state, reason)
            rec["error"] = "%s: %s" % (state, reason)
        rec["result"] = {"backend": cell.backend, "nic": cell.nic, "scenarios": [case],
                         "extra": be.extra if be else {}, "run_dir": cdir}
        report.write_json(os.path.join(cdir, "results.json"), {"cell": cell.id, "probe": pr, "identity": ident})
        if state == "boots" and not getattr(base, "keep", False):  # as fwnet run: logs stay, copies go
            for f in ("disk.img", "vars.fd", "serial.sock"):
                try:
                    os.unlink(os.path.join(cdir, f))
                except OSError:
                    pass
        return rec

    if cell.backend not in runner.QEMU_BACKENDS:
        return done("error", "the probe boots QEMU backends only (not %s)" % cell.backend)
    rec["nic_identity"] = nic_identity(cell.nic)
    try:
        fws = firmware.resolve(cell.firmware, getattr(base, "firmware_dir", None) or ())
        if len(fws) != 1:
            return done("error", "firmware %s names %d firmware" % (cell.firmware, len(fws)))
        fw = firmware.check(fws[0])
    except firmware.FirmwareError as e:
        return done("missing-file" if "missing" in str(e) or "no such file" in str(e) or "no vars" in str(e)
                    else "error", str(e))
    ident = expectations.complete(firmware.identity(fw))
    if cell.nic in qemu.IPXE_NICS:
        try:
            qemu.nic_rom(cell.nic)
        except qemu.QemuError as e:
            return done("missing-file", str(e))
    try:
        build.efi_app(build.agent_app(fw.get("arch")))
    except build.BuildError as e:
        return done("no-agent", str(e))
    opts = cell_opts(base, cell, base.scenario_dir)
    serial = os.path.join(cdir, "serial.log")
    if os.path.exists(serial):
        os.unlink(serial)
    be = backends.BACKENDS[cell.backend](opts)
    stop, hit = threading.Event(), []

    def watch():  # Secure Boot's refusal: stop at once instead of waiting out the deadline
        while not stop.wait(0.25):
            try:
                with open(serial, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if SECURE_BOOT_RE.search(ESC_RE.sub(b"", data)):
                hit.append(True)
                q = be.guests.q
                if q is not None and q.alive():
                    try:
                        os.killpg(q.proc.pid, 9)
                    except ProcessLookupError:
                        pass
                return
    w = threading.Thread(target=watch, daemon=True)
    w.start()
    try:
        be.start([], cdir)
    except (BackendError, qemu.QemuError) as e:
        stop.set()
        w.join()
        runner.stop_backend(be)
        try:
            data = open(serial, "rb").read()
        except OSError:
            data = b""
        return done(*classify_boot_failure(str(e), data))
    stop.set()
    w.join()
    pr["boot_s"] = be.extra.get("boot_s")
    ident = expectations.cell_identity({"extra": be.extra})
    fi = be.extra.get("fwinfo") or {}
    if fi.get("status") != "ok":
        # a reply lost on serial (seen once under load: the frame's tail
        # missing, its CRC wrong): ask once more, and say so
        pr["fwinfo_retry"] = fi.get("msg") or str(fi)
        from .backend import parse_reply
        try:
            fi = parse_reply(be._ask("fwinfo", 30))
            be.extra["fwinfo"] = fi
            ident = expectations.cell_identity({"extra": be.extra})
        except BackendError as e:
            fi = {"status": "err", "msg": str(e)}
    pr["fwinfo"] = fi
    runner.stop_backend(be)
    if fi.get("status") != "ok":
        return done("error", "fwinfo failed: %s" % (fi.get("msg") or fi))
    ni = rec.get("nic_identity") or {}
    rom_arches = ni.get("rom_efi_arches")
    arch_note = ""
    if ni.get("rom") and rom_arches is not None and fw.get("arch") not in rom_arches:
        arch_note = "%s holds EFI drivers for %s only, none for this %s firmware" % (
            os.path.basename(ni["rom"]), ", ".join(rom_arches) or "no architecture", fw.get("arch"))
    if not ident.get("nic_driver"):
        return done("nic-not-bound", "no driver produced an SNP on the %s NIC (snp handles %s; drivers %s)%s"
                    % (cell.nic, fi.get("snp"), ident.get("nic_drivers") or "none",
                       ": " + arch_note if arch_note else ""))
    if ni.get("driver_expected") == "iPXE" and ".efidrv" not in ident["nic_driver"]:
        pr["note"] = "bound by %s, not iPXE%s" % (ident["nic_driver"], " (%s)" % arch_note if arch_note else "")
    return done("boots")


def assemble(name, cells, scens, records, shard=None):
    """matrix.json's content: cells in id order, scenarios in name order
    (so shards merge into what one run writes)."""
    order = {s.name: i for i, s in enumerate(sorted(scens, key=lambda s: s.name))}
    by = {}
    for r in records:
        cur = by.get(r["id"])
        if cur is None:
            by[r["id"]] = cur = dict(r)
            cur["result"] = dict(r["result"], scenarios=[])
            cur["shards"] = []
        cur["result"]["scenarios"] += r["result"]["scenarios"]
        if r.get("error"):
            cur["error"] = r["error"]
        for k in ("identity", "probe", "cannot_boot"):
            if r.get(k) and not cur.get(k):
                cur[k] = r[k]
    for r in by.values():
        r["result"]["scenarios"].sort(key=lambda c: (order.get(c["name"], len(order)), c["name"]))
        r.pop("shards", None)
    return {"matrix": name, "qemu": qemu_version(), "scenarios": sorted(order, key=order.get),
            "cells": [by[k] for k in sorted(by)], "shard": "%d/%d" % shard if shard else None}


def counts(mx):
    c = {}
    for cell in mx["cells"]:
        for s in cell["result"]["scenarios"]:
            v = state(s)
            c[v] = c.get(v, 0) + 1
    return c


def state(case):
    """A grid cell's state: pass, deviation (passed with listed deviations),
    conforms (a listed deviation no longer occurs), fail, error, skip."""
    v = case["verdict"]
    if v == "pass" and case.get("now_conforms"):
        return "conforms"
    if v == "pass" and case.get("deviations"):
        return "deviation"
    return v


def incomplete(mx):
    return any(state(s) in ("fail", "error") for c in mx["cells"] for s in c["result"]["scenarios"])


def write_reports(out, mx):
    from . import grid
    with open(os.path.join(out, "matrix.json"), "w") as f:
        json.dump(mx, f, indent=1, default=str)
        f.write("\n")
    if mx.get("probe"):
        with open(os.path.join(out, "probe.md"), "w") as f:
            f.write("# fwnet matrix %s --probe\n\n%s\n" % (mx["matrix"], grid.probe_table(mx)))
    text = grid.summary_text(mx)
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(text + "\n")
    grid.write_html(os.path.join(out, "grid.html"), mx)
    write_junit(os.path.join(out, "junit.xml"), mx)
    return text


def write_junit(path, mx):
    """JUnit with the cell in each test case's name and properties."""
    import xml.etree.ElementTree as ET
    suites = ET.Element("testsuites", name="fwnet-matrix-%s" % mx["matrix"])
    for cell in mx["cells"]:
        cases = cell["result"]["scenarios"]
        s = ET.SubElement(suites, "testsuite", name="fwnet.%s" % cell["id"], tests=str(len(cases)),
                          failures=str(sum(c["verdict"] == "fail" for c in cases)),
                          errors=str(sum(c["verdict"] == "error" for c in cases)),
                          skipped=str(sum(c["verdict"] == "skip" for c in cases)))
        for c in cases:
            tc = ET.SubElement(s, "testcase", classname="fwnet.%s" % cell["id"],
                               name="%s[%s]" % (c["name"], cell["id"]), time="%.3f" % c.get("seconds", 0))
            props = ET.SubElement(tc, "properties")
            for k, v in cell_properties(cell).items():
                ET.SubElement(props, "property", name=k, value=str(v))
            if c["verdict"] == "fail":
                ET.SubElement(tc, "failure", message=(c.get("problems") or ["failed"])[0]).text = "\n".join(c.get("problems", []))
            elif c["verdict"] == "error":
                ET.SubElement(tc, "error", message=c.get("error", "error")).text = c.get("error", "")
            elif c["verdict"] == "skip":
                ET.SubElement(tc, "skipped", message=c.get("why", ""))
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def cell_properties(cell):
    ident = cell.get("identity") or {}
    p = {"cell": cell["id"], "backend": cell["backend"]}
    for k in ("firmware", "nic", "fw_cfg", "quirks"):
        if cell.get(k):
            p[k] = cell[k]
    for k in ("sha256", "vendor", "revision", "bios_vendor", "bios_version", "bios_date", "version", "nic_driver"):
        if ident.get(k):
            p["fw." + k] = ident[k]
    return p


def plan_from_args(args):
    """The matrix to run: a named definition, overridden by the command line."""
    names = load_definition(args.definition).get("matrix", {}) if os.path.exists(args.definition) else {}
    if args.name and args.name not in names:  # not a matrix: the first scenario
        args.scenarios = [args.name] + list(args.scenarios or [])
        args.name = None
    if args.name:
        m = named(args.name, args.definition)
    else:
        m = {"name": "adhoc", "backend": "ovmf"}
    for k, attr in (("firmware", "firmware"), ("nic", "nic"), ("fw_cfg", "fw_cfg"), ("quirks", "quirks")):
        v = getattr(args, attr, None)
        if v:
            m[k] = v
    if args.backend:
        m["backend"] = args.backend
    if args.scenarios:
        m["scenarios"] = args.scenarios
    return m


def run(args, scens_all, out, log, plan=None):
    """The whole (or one shard of the) matrix: (matrix.json content, summary text)."""
    from . import scenario
    m = plan or plan_from_args(args)
    probing = getattr(args, "probe", False)
    if probing:
        scens = [_Named(PROBE)]
    else:
        scens = scenario.load_dir(args.scenario_dir, m.get("scenarios") or None) if m.get("scenarios") else scens_all
    cells = cells_of(m)
    todo = shard_units(cells, scens, args.shard)
    per_cell = {}
    for c, s in todo:
        per_cell.setdefault(c.id, (c, []))[1].append(s)
    log("fwnet matrix %s: %d cell(s) x %d scenario(s)%s; %d unit(s) here"
        % (m["name"], len(cells), len(scens), " shard %d/%d" % args.shard if args.shard else "", len(todo)))
    lock = threading.Lock()

    def one(item):
        c, ss = item
        listed = None if probing else cannot_boot(m, c)
        if listed:
            r = listed_cell(c, ss, listed)
            log("[%s] not booted: listed as cannot boot: %s" % (c.id, listed))
            return r
        if probing:
            r = probe_cell(args, c, out, lambda msg: (lock.acquire(), log(msg), lock.release()))
            pr = r["probe"]
            log("[%s] probe: %s%s%s" % (c.id, pr["state"], " in %.1f s" % pr["boot_s"] if pr.get("boot_s") is not None
                                        else "", ": " + pr["reason"] if pr.get("reason") else ""))
            return r
        r = run_cell(args, c, ss, out, lambda msg: (lock.acquire(), log(msg), lock.release()))
        log("[%s] done in %.1f s%s" % (c.id, r["wall_s"], ": cell error: " + r["error"] if r.get("error") else ""))
        return r

    items = [per_cell[k] for k in sorted(per_cell)]
    try:
        if args.jobs > 1:  # daemon threads; Ctrl-C/SIGTERM kills every cell's processes at once
            records = runner.run_parallel(one, items, args.jobs)
        else:
            records = [one(it) for it in items]
    except KeyboardInterrupt:
        runner.interrupt()
        # the cells that finished, and what the others had finished, still reported
        records = []
        for c, ss in items:
            res = runner.PARTIAL.get(os.path.join(out, "cells", c.id))
            if res is not None:
                rec = dict(c.describe(), result=res, interrupted=True)
                records.append(rec)
                report.write_json(os.path.join(out, "cells", c.id, "results.json"), {"cell": c.id, "backends": [res]})
        mx = assemble(m["name"], cells, scens, records, args.shard)
        mx["interrupted"] = True
        try:
            write_reports(out, mx)
        except Exception as e:  # a partial cell must not hide the interrupt
            log("fwnet matrix: interrupted; reports incomplete: %s" % e)
        raise
    mx = assemble(m["name"], cells, scens, records, args.shard)
    if probing:
        mx["probe"] = True
    mx["definition"] = {k: v for k, v in m.items() if k != "name"}
    mx["cells_planned"] = [c.id for c in cells]
    return mx, write_reports(out, mx)


class _Named:  # a scenario stand-in: assemble() and shard_units() need only names
    def __init__(self, n):
        self.name = n


def probe_failed(mx):
    """A probe run is complete when every cell got a state; only a boot that
    failed for no recognised reason (state `error`) makes it fail."""
    return any((c.get("probe") or {}).get("state") == "error" for c in mx["cells"])


def merge(dirs, out):
    """Shard results (matrix.json in each dir) as one matrix report."""
    mxs = []
    for d in dirs:
        p = d if d.endswith(".json") else os.path.join(d, "matrix.json")
        with open(p) as f:
            mxs.append(json.load(f))
    names = {m["matrix"] for m in mxs}
    if len(names) != 1:
        raise MatrixError("shards of different matrices: %s" % ", ".join(sorted(names)))

    class S:  # scenario stand-ins: assemble() needs only names
        def __init__(self, n):
            self.name = n
    scens = [S(n) for n in sorted({n for m in mxs for n in m["scenarios"]})]
    records = [c for m in mxs for c in m["cells"]]
    # cells_planned: the union (a shard may have had no unit of a cell)
    mx = assemble(mxs[0]["matrix"], None, scens, records)
    mx["qemu"] = mxs[0].get("qemu")
    mx["definition"] = mxs[0].get("definition")
    mx["cells_planned"] = sorted({c for m in mxs for c in m.get("cells_planned", [])})
    mx["merged_from"] = [m.get("shard") for m in mxs]
    if any(m.get("probe") for m in mxs):
        mx["probe"] = True
    os.makedirs(out, exist_ok=True)
    # the cells' own directories stay in the shards': link them
    for d in dirs:
        cd = os.path.join(d if not d.endswith(".json") else os.path.dirname(d), "cells")
        if os.path.isdir(cd):
            for c in os.listdir(cd):
                dst = os.path.join(out, "cells", c)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                if not os.path.exists(dst):
                    os.symlink(os.path.relpath(os.path.join(cd, c), os.path.dirname(dst)), dst)
    return mx, write_reports(out, mx)


def canonical(mx):
    """A matrix report as judged, without what differs between equal runs
    (timings, directories, peer ports, shard bookkeeping): sharded + merged
    equals unsharded."""
    from .grid import fields
    cells = []
    for c in mx["cells"]:
        cc = {k: c.get(k) for k in ("id", "backend", "firmware", "nic", "fw_cfg", "quirks", "error")}
        cc["identity"] = c.get("identity")
        cc["cases"] = [{"name": s["name"], "state": state(s),
                        **{k: s.get(k) for k in ("problems", "deviations", "now_conforms", "error", "why")},
                        "steps": [fields(st) for st in s.get("steps", [])]}
                       for s in c["result"]["scenarios"]]
        cells.append(cc)
    return {"matrix": mx["matrix"], "qemu": mx.get("qemu"), "scenarios": mx["scenarios"],
            "cells_planned": mx.get("cells_planned"), "definition": mx.get("definition"), "cells": cells}


# ---- CI workflows, generated from the matrix definition ----

def ci_settings(path=DEFINITION):
    d = load_definition(path)
    ci = d.get("ci", {})
    return ci.get("matrix", "ci"), int(ci.get("shards", 2))


def github_workflow(path=DEFINITION):
    name, n = ci_settings(path)
    shards = ", ".join('"%d/%d"' % (i, n) for i in range(1, n + 1))
    return """# Generated by `fwnet matrix --emit-ci` from ci/matrix.toml: do not edit.
name: fwnet-matrix
"on":
  push:
  pull_request:
jobs:
  shard:
    runs-on: ubuntu-latest
    container: debian:bookworm
    strategy:
      fail-fast: false
      matrix:
        shard: [%(shards)s]
    steps:
      - uses: actions/checkout@v4
      - name: dependencies
        run: ci/install-deps.sh all
      - name: build
        run: ./fwnet build
      - name: matrix %(name)s, shard ${{ matrix.shard }}
        run: >-
          ./fwnet matrix %(name)s --no-build --shard ${{ matrix.shard }}
          --out out/shard-${{ strategy.job-index }}
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: fwnet-shard-${{ strategy.job-index }}
          path: out/shard-${{ strategy.job-index }}
  merge:
    needs: shard
    if: always()
    runs-on: ubuntu-latest
    container: debian:bookworm
    steps:
      - uses: actions/checkout@v4
      - uses: actions/download-artifact@v4
        with:
          pattern: fwnet-shard-*
          path: out
      - name: merge
        run: ci/install-deps.sh build && ./fwnet merge out/fwnet-shard-* --out out/merged
      - uses: actions/upload-artifact@v4
        with:
          name: fwnet-matrix
          path: out/merged
""" % {"name": name, "shards": shards}


def gitlab_ci(path=DEFINITION):
    name, n = ci_settings(path)
    shards = ", ".join('"%d/%d"' % (i, n) for i in range(1, n + 1))
    return """# Generated by `fwnet matrix --emit-ci` from ci/matrix.toml: do not edit.
stages:
  - matrix
  - merge

fwnet-shard:
  stage: matrix
  image: debian:bookworm
  parallel:
    matrix:
      - SHARD: [%(shards)s]
  script:
    - ci/install-deps.sh all
    - ./fwnet build
    - ./fwnet matrix %(name)s --no-build --shard "$SHARD" --out "out/shard-${CI_NODE_INDEX}"
  artifacts:
    when: always
    paths:
      - out/

fwnet-merge:
  stage: merge
  image: debian:bookworm
  when: always
  needs:
    - job: fwnet-shard
      artifacts: true
  script:
    - ci/install-deps.sh build
    - ./fwnet merge out/shard-* --out out/merged
  artifacts:
    when: always
    paths:
      - out/merged/
""" % {"name": name, "shards": shards}


CI_FILES = {"github-workflow.yml": github_workflow, "gitlab-ci.yml": gitlab_ci}


def emit_ci(ci_dir=os.path.join(ROOT, "ci"), path=DEFINITION, check=False):
    """Writes (or, with check, compares) the CI files; returns the stale ones."""
    stale = []
    for fn, gen in CI_FILES.items():
        p = os.path.join(ci_dir, fn)
        text = gen(path)
        cur = open(p).read() if os.path.exists(p) else None
        if cur != text:
            stale.append(fn)
            if not check:
                with open(p, "w") as f:
                    f.write(text)
    return stale
