"""A matrix run's reports: the text summary and grid.html (scenario × cell:
pass / fail / listed deviation / now conforms / error / skip), each failing
cell with its first difference against the golden and against the other
cells, linked to the cell's logs and capture; and `fwnet compare`'s view of
what changed between two runs or two cells."""
import html
import os

from . import runner

SYMBOL = {"pass": "pass", "deviation": "dev", "conforms": "conf", "fail": "FAIL", "error": "ERR", "skip": "skip",
          None: "-"}
COLOUR = {"pass": "#c8efc8", "deviation": "#f3e6a8", "conforms": "#a8d8f3", "fail": "#f3a8a8",
          "error": "#d9a8f3", "skip": "#e4e4e4", None: "#ffffff"}


def _state(case):
    from .matrix import state
    return state(case) if case else None


def case_of(cell, name):
    for c in cell["result"]["scenarios"]:
        if c["name"] == name:
            return c
    return None


def fields(step):
    """A step's compared fields (runner.COMPARED less the op's NOT_COMPARED)."""
    # agent steps carry their text as "line"; firmware-level steps (fwscenario)
    # a line number, and the text as "step"
    text = step.get("line") if isinstance(step.get("line"), str) else step.get("step")
    op = text.split()[0] if text else "?"
    skip = runner.NOT_COMPARED.get(op, set())
    return {k: str(v) for k, v in step.get("reply", {}).items() if k in runner.COMPARED and k not in skip}


def first_difference(a, b):
    """The first step (1-based) and field where two cases' replies differ:
    "step N (line): field: A vs B", or None."""
    sa, sb = a.get("steps", []), b.get("steps", [])
    for i in range(max(len(sa), len(sb))):
        if i >= len(sa) or i >= len(sb):
            return "step %d: %s" % (i + 1, "missing here" if i >= len(sa) else "missing there")
        fa, fb = fields(sa[i]), fields(sb[i])
        for k in sorted(set(fa) | set(fb)):
            if fa.get(k) != fb.get(k):
                return "step %d (%s): %s: %s vs %s" % (i + 1, sa[i]["line"], k, fa.get(k, "absent"), fb.get(k, "absent"))
    if a["verdict"] != b["verdict"]:
        return "same replies; verdict %s vs %s" % (a["verdict"], b["verdict"])
    return None


def against_others(mx, cell, name):
    """This cell's case against the first other cell whose case passed."""
    mine = case_of(cell, name)
    for other in mx["cells"]:
        if other is cell:
            continue
        oc = case_of(other, name)
        if oc and oc["verdict"] == "pass" and oc.get("steps"):
            d = first_difference(mine, oc)
            return "vs %s: %s" % (other["id"], d or "no difference in replies")
    return None


def why(case):
    if not case:
        return ""
    v = _state(case)
    if v == "fail":
        return (case.get("problems") or ["failed"])[0]
    if v == "error":
        return case.get("error", "")
    if v == "skip":
        return case.get("why", "")
    if v == "conforms":
        return case["now_conforms"][0]
    if v == "deviation":
        return "; ".join(case["deviations"])
    return ""


def cell_line(cell):
    ident = cell.get("identity") or {}
    bits = [cell["id"]]
    if ident.get("sha256"):
        bits.append("sha256 %s" % ident["sha256"][:12])
    if ident.get("vendor"):
        bits.append("%s rev %s" % (ident["vendor"], ident.get("revision")))
    if ident.get("version"):
        bits.append("version %s (%s)" % (ident["version"], ident.get("version_source")))
    if ident.get("bios_vendor"):
        bits.append("SMBIOS %s / %s / %s" % (ident["bios_vendor"], ident.get("bios_version"), ident.get("bios_date")))
    if ident.get("nic_driver"):
        bits.append("NIC driver %s" % ident["nic_driver"])
    pr = cell.get("probe")
    if pr and pr.get("state") == "boots":
        bits.append("probe: boots")  # seconds in probe.md (summary.txt has no timings)
    if cell.get("cannot_boot"):
        bits.append("CANNOT BOOT (listed): %s" % cell["cannot_boot"])
    elif cell.get("error"):
        bits.append("CANNOT RUN: %s" % cell["error"])
    return "; ".join(bits)


def probe_table(mx, timings=True):
    """The boot probe's table (fwnet matrix --probe): a row per cell, its
    state, boot seconds, firmware, NIC driver or the reason. Markdown."""
    rows = ["| cell | state | boot s | firmware (vendor rev, version) | NIC driver / reason |",
            "|---|---|---|---|---|"]
    for c in mx["cells"]:
        pr = c.get("probe") or {}
        ident = c.get("identity") or {}
        fwid = "%s %s, %s" % (ident.get("vendor") or "?", ident.get("revision") or "?", ident.get("version") or "?") \
            if ident.get("vendor") else (ident.get("version") or "")
        st = pr.get("state") or ("listed: cannot boot" if c.get("cannot_boot") else "?")
        what = ident.get("nic_driver") if st == "boots" else (pr.get("reason") or c.get("cannot_boot") or "")
        if pr.get("note"):
            what = "%s; NOTE: %s" % (what, pr["note"])
        bs = "%.1f" % pr["boot_s"] if timings and pr.get("boot_s") is not None else ("yes" if st == "boots" else "")
        rows.append("| %s | %s | %s | %s | %s |" % (c["id"], st, bs, fwid, (what or "").replace("|", "/")))
    return "\n".join(rows)


def summary_text(mx):
    """Deterministic (no timings): equal for equal results."""
    from .matrix import counts, incomplete
    lines = ["fwnet matrix %s: %d cell(s), %d scenario(s); %s" % (mx["matrix"], len(mx["cells"]), len(mx["scenarios"]),
                                                               mx.get("qemu") or "QEMU ?")]
    for i, c in enumerate(mx["cells"]):
        lines.append("  c%d  %s" % (i + 1, cell_line(c)))
    w = max([len(s) for s in mx["scenarios"]] + [8])
    lines.append("  %-*s  %s" % (w, "scenario", " ".join("%-5s" % ("c%d" % (i + 1)) for i in range(len(mx["cells"])))))
    for s in mx["scenarios"]:
        lines.append("  %-*s  %s" % (w, s, " ".join("%-5s" % SYMBOL[_state(case_of(c, s))] for c in mx["cells"])))
    notes = []
    for i, c in enumerate(mx["cells"]):
        for s in mx["scenarios"]:
            case = case_of(c, s)
            st = _state(case)
            if st in ("fail", "error", "conforms"):
                n = "  c%d %s %s: %s" % (i + 1, s, st.upper(), why(case))
                o = against_others(mx, c, s) if st == "fail" else None
                notes.append(n + ("\n      " + o if o else ""))
    if notes:
        lines.append("differences:")
        lines += notes
    if mx.get("probe"):  # states only: summary.txt stays equal for equal results
        lines.append("boot probe:")
        lines += ["  " + r for r in probe_table(mx, timings=False).splitlines()]
        st = {}
        for c in mx["cells"]:
            k2 = (c.get("probe") or {}).get("state") or "?"
            st[k2] = st.get(k2, 0) + 1
        lines.append("  probe states: " + ", ".join("%d %s" % (st[k2], k2) for k2 in sorted(st)))
    k = counts(mx)
    lines.append("  %s; %s" % (", ".join("%d %s" % (k[v], v) for v in sorted(k)),
                               "INCOMPLETE (failures or errors)" if incomplete(mx) else "complete"))
    return "\n".join(lines)


def write_html(path, mx):
    e = html.escape
    rows = []
    head = "".join('<th title="%s">c%d<br><small>%s</small></th>' % (e(cell_line(c)), i + 1, e(c["id"]))
                   for i, c in enumerate(mx["cells"]))
    for s in mx["scenarios"]:
        tds = []
        for c in mx["cells"]:
            case = case_of(c, s)
            st = _state(case)
            tip = why(case)
            extra = ""
            if st == "fail":
                o = against_others(mx, c, s)
                extra = "<div class=d>%s</div>%s" % (e(tip), "<div class=d>%s</div>" % e(o) if o else "")
            elif st in ("error", "conforms"):
                extra = "<div class=d>%s</div>" % e(tip)
            links = ""
            d = os.path.join("cells", c["id"])
            if case:
                links = ' <a href="%s/">logs</a>' % e(d)
                run_dir = c["result"].get("run_dir") or ""
                if os.path.exists(os.path.join(run_dir, "capture.pcap")) or c["backend"] in runner.QEMU_BACKENDS:
                    links += ' <a href="%s/capture.pcap">pcap</a>' % e(d)
            tds.append('<td style="background:%s" title="%s"><b>%s</b>%s%s</td>'
                       % (COLOUR[st], e(tip), SYMBOL[st], links, extra))
        rows.append("<tr><th class=s>%s</th>%s</tr>" % (e(s), "".join(tds)))
    cells = "".join("<li><b>c%d</b> %s</li>" % (i + 1, e(cell_line(c))) for i, c in enumerate(mx["cells"]))
    text = """<!doctype html><html><head><meta charset="utf-8"><title>fwnet matrix %s</title>
<style>body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}td,th{border:1px solid #999;
padding:3px 5px;vertical-align:top}th.s{text-align:left}.d{font-size:11px;max-width:28em}</style></head><body>
<h1>fwnet matrix %s</h1><p>%s</p><ul>%s</ul>
<p>pass · <span style="background:%s">dev</span> listed deviation · <span style="background:%s">conf</span> a listed
deviation no longer occurs · <span style="background:%s">FAIL</span> · <span style="background:%s">ERR</span> · skip</p>
<table><tr><th>scenario</th>%s</tr>%s</table><pre>%s</pre></body></html>
""" % (e(mx["matrix"]), e(mx["matrix"]), e(mx.get("qemu") or ""), cells, COLOUR["deviation"], COLOUR["conforms"],
       COLOUR["fail"], COLOUR["error"], head, "".join(rows), e(summary_text(mx)))
    with open(path, "w") as f:
        f.write(text)


# ---- fwnet compare ----

def load(spec):
    """A matrix run (dir or matrix.json), a plain run (results.json), or one
    cell of a run: DIR#CELL-ID. Returns {cell id: cell}."""
    import json
    path, _, want = spec.partition("#")
    p = path
    if os.path.isdir(p):
        p = os.path.join(path, "matrix.json") if os.path.exists(os.path.join(path, "matrix.json")) \
            else os.path.join(path, "results.json")
    with open(p) as f:
        j = json.load(f)
    if "cells" in j:
        cells = {c["id"]: c for c in j["cells"]}
    else:  # fwnet run's results.json: one cell per backend
        cells = {}
        for b in j["backends"]:
            cid = b["backend"] + ("." + os.path.basename(str(b.get("firmware"))) + "." + str(b.get("nic"))
                                  if b.get("firmware") else "")
            cells[cid] = {"id": cid, "backend": b["backend"], "result": b, "identity": (b.get("extra") or {}).get("firmware")}
    if want:
        if want not in cells:
            raise KeyError("%s: no cell %s (cells: %s)" % (path, want, ", ".join(sorted(cells))))
        return {want: cells[want]}
    return cells


def compare(a_spec, b_spec):
    """What changed from A to B: (text, number of changes). Two runs: cell
    by cell, matched by id; two single cells: those two."""
    a, b = load(a_spec), load(b_spec)
    pairs = []
    if len(a) == 1 and len(b) == 1 and "#" in a_spec + b_spec:
        pairs = [(next(iter(a.values())), next(iter(b.values())))]
    else:
        pairs = [(a[k], b[k]) for k in sorted(set(a) & set(b))]
    lines = ["fwnet compare %s -> %s" % (a_spec, b_spec)]
    changes = 0
    for k in sorted(set(a) - set(b)) if len(pairs) != 1 or "#" not in a_spec + b_spec else []:
        lines.append("  cell %s: only in A" % k)
        changes += 1
    for k in sorted(set(b) - set(a)) if len(pairs) != 1 or "#" not in a_spec + b_spec else []:
        lines.append("  cell %s: only in B" % k)
        changes += 1
    for ca, cb in pairs:
        ia, ib = ca.get("identity") or {}, cb.get("identity") or {}
        for f in ("sha256", "vendor", "revision", "version", "bios_version", "nic_driver"):
            if ia.get(f) != ib.get(f):
                lines.append("  %s: identity %s: %s -> %s" % (cb["id"], f, ia.get(f), ib.get(f)))
        names = sorted({c["name"] for c in ca["result"]["scenarios"]} | {c["name"] for c in cb["result"]["scenarios"]})
        label = ca["id"] if ca["id"] == cb["id"] else "%s -> %s" % (ca["id"], cb["id"])
        for n in names:
            xa, xb = case_of(ca, n), case_of(cb, n)
            sa, sb = _state(xa), _state(xb)
            d = first_difference(xa, xb) if xa and xb else None
            if sa != sb or (d and sa == "fail"):
                changes += 1
                lines.append("  %s %s: %s -> %s%s" % (label, n, sa or "absent", sb or "absent",
                                                      ("; " + d) if d else ""))
    lines.append("  %d change(s)" % changes)
    return "\n".join(lines), changes
