"""Expected results per build: which listed deviations hold for a cell.

A scenario lists deviations (TRC-style, as sapi-ts's expected-results
database) under a key: a backend (`ovmf`) or a backend over a network
(`ovmf-slirp`). A deviation may also name the builds it holds for:

    [[deviations.ovmf]]
    step = 1
    expect = { ret = "-3" }
    firmware = { vendor = "EDK II", version = ">=2022.11,<2024.05" }
    why = "..."

`firmware` fields (all must match the cell's identity): vendor and
bios_vendor (the system table's FirmwareVendor / SMBIOS type 0's, exact,
case-insensitive), version (a range over the build's version: SMBIOS type
0's BIOS version, or, where the build left EDK2's placeholder 0.0.0, its
Debian package's, e.g. "2022.11-6+deb12u2" → 2022.11; comparisons joined
by ',', or one exact version), sha256 (the CODE file's, or a list of them), name (the
firmware's descriptor or file name). A deviation without `firmware`
holds for every build of its backend. Several deviations for one step all
stay listed (each matched on its own).

The cell's identity is per thread (each cell runs in one thread): the
ovmf backend sets it once the guest reported fwinfo; the matrix sets the
host part (sha256) before a cell starts.
"""
import os
import re
import threading
import tomllib

_local = threading.local()


def set_identity(ident):
    """The identity of the cell running in this thread (None: unknown)."""
    _local.identity = dict(ident) if ident else None


def update_identity(**fields):
    cur = dict(getattr(_local, "identity", None) or {})
    cur.update({k: v for k, v in fields.items() if v is not None})
    _local.identity = cur


def identity():
    return getattr(_local, "identity", None)


def version_key(text):
    """The leading numeric version of a firmware version string:
    "2022.11-6+deb12u2" → (2022, 11); "edk2-stable202211" → (2022, 11)."""
    if text is None:
        return None
    m = re.search(r"stable(\d{4})(\d{2})", text)
    if m:
        return (int(m.group(1)), int(m.group(2)))
    m = re.search(r"\d+(?:\.\d+)*", text)
    return tuple(int(x) for x in m.group(0).split(".")) if m else None


def version_matches(spec, text):
    have = version_key(text)
    if have is None:
        return False
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        m = re.match(r"^(>=|<=|==|!=|>|<|=)?\s*(.+)$", part)
        op, want = m.group(1) or "==", version_key(m.group(2))
        if want is None:
            return False
        n = max(len(have), len(want))
        a, b = have + (0,) * (n - len(have)), want + (0,) * (n - len(want))
        ok = {">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b, "==": a == b, "=": a == b, "!=": a != b}[op]
        if not ok:
            return False
    return True


def firmware_matches(cond, ident):
    """Whether a deviation's `firmware` condition holds for identity ident
    (a cell with an empty identity matches no condition; None, judging
    outside any cell, matches every one)."""
    if not cond or ident is None:
        return True  # no identity at all (no cell: unit judging): backend-keyed as before
    if not ident:
        return False
    for k, want in cond.items():
        if k in ("vendor", "bios_vendor", "name"):
            if str(ident.get(k) or "").lower() != str(want).lower():
                return False
        elif k == "version":
            if not version_matches(str(want), complete(ident).get("version")):
                return False
        elif k == "sha256":
            wants = want if isinstance(want, list) else [want]
            if ident.get("sha256") not in wants:
                return False
        else:
            return False  # an unknown condition never matches silently
    return True


class StepDeviations(list):
    """The deviations listed for one step that hold for the cell. Indexed
    like one deviation for the runner: ["expect"] is every listed field's
    values, ["why"] the reason of the one last matched."""

    def __init__(self, items):
        super().__init__(items)
        self.last = items[0] if items else None

    def __getitem__(self, k):
        if k == "expect":
            merged = {}
            for d in self:
                merged.update(d["expect"])
            return merged
        if k == "why":
            return (self.last or {}).get("why", "")
        return list.__getitem__(self, k)

    def get(self, k, default=None):
        try:
            return self[k]
        except (KeyError, IndexError, TypeError):
            return default


_RAW = {}


def raw_deviations(sc):
    """Every deviation of a scenario as listed (a list per key: two for one
    step both stay), from its file; the parsed scenario's own table as a
    fallback (scenarios built in memory)."""
    path = getattr(sc, "path", None)
    if path and os.path.exists(path):
        st = os.stat(path)
        key = (path, st.st_mtime, st.st_size)
        if key not in _RAW:
            with open(path, "rb") as f:
                _RAW[key] = tomllib.load(f).get("deviations", {})
        return _RAW[key]
    return {b: list(steps.values()) for b, steps in getattr(sc, "deviations", {}).items()}


def applicable(sc, backend_name, net=None, ident=None):
    """[(key, deviation)] that hold for this cell: the backend's own, then
    its network's."""
    if ident is None:
        ident = identity()
    raw = raw_deviations(sc)
    out = []
    for key in [backend_name] + (["%s-%s" % (backend_name, net)] if net else []):
        for d in raw.get(key, []):
            if firmware_matches(d.get("firmware"), ident):
                out.append((key, d))
    return out


def for_steps(sc, backend_name, net=None, ident=None):
    """{step: StepDeviations} for the runner (deviations_for)."""
    by = {}
    for _, d in applicable(sc, backend_name, net, ident):
        by.setdefault(d["step"], []).append(d)
    return {s: StepDeviations(ds) for s, ds in by.items()}


def listed(dev, key, got):
    """Whether a listed deviation covers this value of key; "absent" means
    the backend gives no such field. dev: one deviation or StepDeviations."""
    if not dev:
        return False
    want = "absent" if got is None else str(got)
    for d in (dev if isinstance(dev, list) else [dev]):
        if key in d["expect"] and str(d["expect"][key]) == want:
            if isinstance(dev, StepDeviations):
                dev.last = d
            return True
    return False


def now_conforms(sc, backend_name, net, used, ident=None):
    """Listed deviations that hold for this cell but did not occur: the
    cell now conforms there (reported, not silently passed)."""
    out = []
    for key, d in applicable(sc, backend_name, net, ident):
        tag = "(%s)" % d["why"]
        if not any(u.startswith("step %d " % d["step"]) and u.endswith(tag) for u in used):
            out.append("step %d [%s]%s: listed %s did not occur (%s)"
                       % (d["step"], key, " for " + describe(d["firmware"]) if d.get("firmware") else "",
                          ",".join("%s=%s" % kv for kv in sorted(d["expect"].items())), d["why"]))
    return out


def describe(cond):
    return " ".join("%s %s" % (k, v) for k, v in sorted(cond.items()))


def cell_identity(res):
    """A cell's identity from a backend result (results.json's backends[]):
    host identity (sha256) plus the guest's fwinfo."""
    from .firmware import parse_fwinfo
    ex = res.get("extra") or {}
    ident = dict(ex.get("firmware") or {})
    fi = ex.get("fwinfo")
    if fi and fi.get("status") == "ok":
        ident.update({k: v for k, v in parse_fwinfo(fi).items() if v is not None})
    return complete(ident)


PLACEHOLDER_VERSIONS = {None, "", "0.0.0", "unknown"}


def complete(ident):
    """Adds `version`: SMBIOS type 0's BIOS version when the build set one,
    else its package's (EDK2's OVMF leaves the placeholder 0.0.0)."""
    ident = dict(ident)
    if ident.get("bios_version") not in PLACEHOLDER_VERSIONS:
        ident["version"], ident["version_source"] = ident["bios_version"], "smbios"
    elif ident.get("package_version"):
        ident["version"], ident["version_source"] = ident["package_version"], "package %s" % ident.get("package")
    return ident
