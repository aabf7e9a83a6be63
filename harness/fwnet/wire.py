"""Wire assertions: judge what a run put on the wire, from its pcap, after the run.

Nothing here sends a packet or opens a socket: it reads capture files, writes
slices of them, and runs tcpdump and tshark on those files.

Proposed step-language syntax (one `wire` line in a scenario's `steps`; the
runner judges these lines after the run, on the slice of the run's capture that
covers the scenario, and does not send them to the agent):

    wire count [bpf|tshark] "FILTER" RANGE [within A-Bs of step N|start]
    wire field [bpf|tshark] "FILTER" FIELD CHECK... [count RANGE] [within A-Bs of step N|start]

  - FILTER is quoted (shell-like quoting, '...' or "..."); the language defaults
    to `bpf` (libpcap's language, as tcpdump takes it; `tcpdump` is an alias),
    `tshark` selects a Wireshark display filter.
  - RANGE bounds how many matching packets there are: `N`, `N..M`, `N..`,
    `>=N`, `>N`, `<=M`, `<M` (so `0` asserts "none").
  - `within A-Bs of step N` counts (and extracts from) only the packets whose
    time is A..B seconds (inclusive) after step N started (`of start`: after
    the scenario started); `ms` works as a unit too: `within 0-500ms of step 3`.
    The runner passes that reference time as t0 (an epoch float).
  - FIELD is a tshark field name (`tshark -G fields`), e.g. `tcp.seq_raw`,
    `tcp.srcport`, `udp.srcport`, `ip.id`, `dns.id`, `dhcp.id` (there is no
    `bootp.*` in tshark 4); the first occurrence in each packet is taken, so
    quoted headers inside ICMP errors do not count twice.
  - CHECK is one or more of: `distinct` (no value repeats), `constant` (all
    equal), `stride-constant` (all differences equal: a counter, the failing
    condition for initial sequence numbers), `monotonic` (strictly
    increasing), `random` (see RANDOMNESS; `random:16` states the width in
    bits, else it comes from the field's type). `not-CHECK` inverts any check,
    e.g. `not-stride-constant`.

  Examples:
    wire count "tcp[tcpflags] & tcp-syn != 0 and src host 10.0.2.15" 2..4 within 1-4s of step 2
    wire count tshark "dns.flags.response == 0" >=1
    wire count "icmp" 0
    wire field tshark "tcp.flags.syn==1 && tcp.flags.ack==0" tcp.seq_raw distinct random
    wire field "udp dst port 53" dns.id random:16 count >=8
    wire field "tcp[tcpflags] == tcp-syn" tcp.srcport not-stride-constant

  Integration: scenario.py takes `wire` lines out before its `=>` split and
  strips `#` comments only outside quotes; runner.WireRun judges them.
  `parse_wire_step(text, file, line)` takes the line (with or without the
  leading `wire`), compile-checks the filter and field at once (before any
  QEMU starts) and returns a WireAssertion; `assertion.check(pcap, t0)` raises
  WireFailure with the filter and the matching packets as tcpdump prints them.

Python API:
    slice_pcap(src, dst, t_start, t_end) -> packets written   read_pcap(path) -> [Packet]
    compile_check("bpf"|"tshark", expr)   check_field(name) -> type   tshark_fields()
    WireAssertion(lang, expr, count="2..4", field=None, checks=(), within=(1, 4), ref=2, file, line)
    a.evaluate(pcap, t0) -> WireResult (ok, reasons, matches, counted, values, message)
    a.check(pcap, t0) -> WireResult, or raises WireFailure (an AssertionError)
    run_check(check, values, bits) -> (ok, why)   randomness(values, bits) -> (ok, sub-tests)

RANDOMNESS (`random`): values x_1..x_n of width w bits, d_i = x_{i+1} - x_i mod
2^w. Each sub-test fails when its p-value is below ALPHA = 1e-4 (after a
Bonferroni correction within the sub-test), so truly random values fail the
whole check with a probability below about 1e-3:
  - at least MIN_RANDOM_N = 8 values, else the check fails (cannot judge);
  - repeated values, and repeated differences: Poisson tail with mean
    C(n,2)/2^w (constant strides and counters repeat differences);
  - span: all values inside an arc of s*2^w (circular): p = n*s^(n-1)
    (time-based or narrowly seeded values huddle);
  - bit balance: every bit's count of ones, exact binomial, two-sided;
  - low-bit serial test: bits 0..3 compared at lags 1, 2, 4 (a linear
    congruential generator modulo 2^w has bit k of period 2^(k+1));
  - runs above/below the median (Wald-Wolfowitz), n >= 20;
  - chi-square over 17 equal ranges of the value space, n >= 85 (df 16).
"""
import atexit
import difflib
import functools
import math
import os
import re
import shlex
import struct
import subprocess
import tempfile
from decimal import Decimal

TSHARK = "tshark"
TCPDUMP = "tcpdump"
MAX_LINES = 20
ALPHA = 1e-4
MIN_RANDOM_N = 8
LANGS = {"bpf": "bpf", "tcpdump": "bpf", "libpcap": "bpf", "tshark": "tshark", "display": "tshark"}
CHECKS = ("distinct", "constant", "stride-constant", "monotonic", "random")


class WireError(Exception):
    """A wire assertion or filter that is wrong in itself (names the file and
    line when known)."""

    def __init__(self, msg, file=None, line=None):
        self.msg, self.file, self.line = msg, file, line
        super().__init__("%s:%s: %s" % (file, line, msg) if file is not None else msg)


class WireFailure(AssertionError):
    """An assertion that did not hold on the capture."""

    def __init__(self, result):
        self.result = result
        super().__init__(result.message)


# ---------------------------------------------------------------- pcap files

PCAP_MAGIC = {  # raw 4 bytes -> (struct endianness, nanosecond timestamps)
    b"\xd4\xc3\xb2\xa1": ("<", False), b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True), b"\xa1\xb2\x3c\x4d": (">", True),
}
NG_SHB, NG_IDB, NG_OPB, NG_SPB, NG_EPB = 0x0A0D0D0A, 1, 2, 3, 6


class Packet:
    __slots__ = ("ts_ns", "linktype", "data", "orig_len", "raw")

    def __init__(self, ts_ns, linktype, data, orig_len, raw):
        self.ts_ns, self.linktype, self.data, self.orig_len, self.raw = ts_ns, linktype, data, orig_len, raw

    @property
    def time(self):
        return self.ts_ns / 1e9


def to_ns(t):
    """An epoch time (float, int, Decimal or str, seconds) as integer
    nanoseconds; a float counts as the decimal it prints as (1.5 -> 1.5 s)."""
    if isinstance(t, int):
        return t * 10 ** 9
    if isinstance(t, float):
        t = repr(t)
    return int((Decimal(t) * 10 ** 9).to_integral_value())


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _pcap_records(buf):
    """(header bytes, [Packet]) of a classic pcap."""
    if len(buf) < 24 or buf[:4] not in PCAP_MAGIC:
        raise WireError("not a pcap file (magic %s)" % buf[:4].hex())
    e, nano = PCAP_MAGIC[buf[:4]]
    linktype = struct.unpack(e + "I", buf[20:24])[0] & 0x0FFFFFFF
    rec = struct.Struct(e + "IIII")
    out, off = [], 24
    while off + 16 <= len(buf):
        sec, frac, incl, orig = rec.unpack_from(buf, off)
        end = off + 16 + incl
        if end > len(buf):
            break  # a truncated last record (a capture still being written)
        ns = sec * 10 ** 9 + (frac if nano else frac * 1000)
        out.append(Packet(ns, linktype, buf[off + 16:end], orig, buf[off:end]))
        off = end
    return buf[:24], out


def _ng_tsres(opts, e):
    """if_tsresol and if_tsoffset from an IDB's options: (units per second
    as (base, exp)), offset seconds."""
    res, offset, off = (10, 6), 0, 0
    while off + 4 <= len(opts):
        code, ln = struct.unpack_from(e + "HH", opts, off)
        val = opts[off + 4:off + 4 + ln]
        if code == 0:
            break
        if code == 9 and ln >= 1:
            res = (2, val[0] & 0x7F) if val[0] & 0x80 else (10, val[0])
        elif code == 14 and ln >= 8:
            offset = struct.unpack(e + "q", val[:8])[0]
        off += 4 + ((ln + 3) & ~3)
    return res, offset


def _units_to_ns(units, res, offset):
    base, exp = res
    if base == 10:
        ns = units * 10 ** (9 - exp) if exp <= 9 else units // 10 ** (exp - 9)
    else:
        ns = (units * 10 ** 9) >> exp
    return ns + offset * 10 ** 9


def _pcapng_blocks(buf):
    """[(raw block, Packet or None)] of a pcapng file: packets for EPB/OPB,
    None for every other block (SHB, IDB, name resolution, statistics...)."""
    out, off, e, ifaces = [], 0, "<", []
    while off + 12 <= len(buf):
        btype_le = struct.unpack_from("<I", buf, off)[0]
        if btype_le == NG_SHB:
            bom = buf[off + 8:off + 12]
            e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">" if bom == b"\x1a\x2b\x3c\x4d" else None
            if e is None:
                raise WireError("pcapng: bad byte-order magic at offset %d" % off)
            ifaces = []
        btype, blen = struct.unpack_from(e + "II", buf, off)
        if blen < 12 or blen % 4 or off + blen > len(buf):
            break  # truncated or damaged: stop here
        raw = buf[off:off + blen]
        body = raw[8:-4]
        pkt = None
        if btype == NG_IDB:
            lt = struct.unpack_from(e + "H", body, 0)[0]
            res, tsoff = _ng_tsres(body[8:], e)
            ifaces.append((lt, res, tsoff))
        elif btype in (NG_EPB, NG_OPB):
            if btype == NG_EPB:
                iface, hi, lo, cap, orig = struct.unpack_from(e + "IIIII", body, 0)
            else:
                iface, _drops, hi, lo, cap, orig = struct.unpack_from(e + "HHIIII", body, 0)
            if iface >= len(ifaces):
                raise WireError("pcapng: packet for undeclared interface %d" % iface)
            lt, res, tsoff = ifaces[iface]
            pkt = Packet(_units_to_ns((hi << 32) | lo, res, tsoff), lt, body[20:20 + cap], orig, raw)
        out.append((raw, pkt, btype))
        off += blen
    return out


def read_pcap(path):
    """Every packet of a capture (classic pcap, either byte order, micro- or
    nanoseconds; or pcapng), as Packet objects with ts_ns and data."""
    buf = _read(path)
    if buf[:4] == b"\x0a\x0d\x0d\x0a":
        return [p for _, p, _ in _pcapng_blocks(buf) if p is not None]
    return _pcap_records(buf)[1]


def slice_pcap(src, dst, t_start=None, t_end=None):
    """Write the packets of capture `src` whose time lies in [t_start, t_end]
    (epoch seconds, both ends included; None: unbounded) to `dst`, in src's
    own format (classic pcap keeps its header: byte order, resolution, link
    type; pcapng keeps its sections, interfaces and other blocks, but drops
    simple packet blocks, which carry no time). Returns the number of packets
    written."""
    lo = to_ns(t_start) if t_start is not None else None
    hi = to_ns(t_end) if t_end is not None else None

    def inside(p):
        return (lo is None or p.ts_ns >= lo) and (hi is None or p.ts_ns <= hi)

    buf = _read(src)
    n, parts = 0, []
    if buf[:4] == b"\x0a\x0d\x0d\x0a":
        for raw, p, btype in _pcapng_blocks(buf):
            if p is None:
                if btype != NG_SPB:
                    parts.append(raw)
            elif inside(p):
                parts.append(raw)
                n += 1
    else:
        header, pkts = _pcap_records(buf)
        parts.append(header)
        for p in pkts:
            if inside(p):
                parts.append(p.raw)
                n += 1
    tmp = dst + ".part"
    with open(tmp, "wb") as f:
        f.write(b"".join(parts))
    os.replace(tmp, dst)
    return n


# ---------------------------------------------------------------- tools

def _env():
    env = dict(os.environ)
    env["TZ"] = "UTC"  # tcpdump's time of day, the same on every machine
    env.setdefault("HOME", tempfile.gettempdir())
    return env


def _clean(err):
    lines = [ln for ln in err.splitlines() if ln.strip() and "dangerous" not in ln
             and not ln.startswith("reading from file")]
    return "\n".join(lines).strip()


def _run(cmd, stdin_path=None, input_bytes=None, timeout=60):
    try:
        if stdin_path is not None:
            with open(stdin_path, "rb") as f:
                r = subprocess.run(cmd, stdin=f, capture_output=True, env=_env(), timeout=timeout)
        else:
            r = subprocess.run(cmd, input=input_bytes if input_bytes is not None else b"",
                               capture_output=True, env=_env(), timeout=timeout)
    except FileNotFoundError:
        raise WireError("%s is not installed (Debian package %s; ci/install-deps.sh installs it)"
                        % (cmd[0], "tshark" if cmd[0] == TSHARK else "tcpdump"))
    return r.returncode, r.stdout, _clean(r.stderr.decode("utf-8", "replace"))


@functools.lru_cache(maxsize=1)
def _empty_pcap():
    fd, path = tempfile.mkstemp(prefix="fwnet-wire-empty-", suffix=".pcap")
    with os.fdopen(fd, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    atexit.register(lambda: os.path.exists(path) and os.unlink(path))
    return path


@functools.lru_cache(maxsize=256)
def _compile(kind, expr):
    if kind == "bpf":
        rc, _, err = _run([TCPDUMP, "-d", "-y", "EN10MB", expr])
        tool = "tcpdump"
    else:
        rc, _, err = _run([TSHARK, "-n", "-r", _empty_pcap(), "-Y", expr])
        tool = "tshark"
    if rc != 0:
        return "%s filter %r does not compile: %s" % (tool, expr, err or "%s exit %d" % (tool, rc))
    return None


def compile_check(kind, expr):
    """Raise WireError with the tool's message unless `expr` compiles as a
    filter of `kind` ("bpf"/"tcpdump": libpcap, for Ethernet; "tshark": a
    display filter). Needs no capture and no running guest; cached."""
    lang = LANGS.get(kind)
    if lang is None:
        raise WireError("filter language %r: use bpf or tshark" % (kind,))
    if not isinstance(expr, str) or not expr.strip():
        raise WireError("empty %s filter" % lang)
    err = _compile(lang, expr)
    if err:
        raise WireError(err)
    return lang


@functools.lru_cache(maxsize=1)
def tshark_fields():
    """{field or protocol name: type} from `tshark -G fields` (once per process)."""
    rc, out, err = _run([TSHARK, "-G", "fields"])
    if rc != 0:
        raise WireError("tshark -G fields failed: %s" % err)
    fields = {}
    for ln in out.decode("utf-8", "replace").splitlines():
        parts = ln.split("\t")
        if len(parts) >= 3 and parts[0] == "F":
            fields[parts[2]] = parts[3] if len(parts) > 3 else ""
        elif len(parts) >= 3 and parts[0] == "P":
            fields[parts[2]] = "PROTOCOL"
    return fields


def check_field(name):
    """Raise WireError naming `name` unless tshark knows such a field; returns
    its type (e.g. FT_UINT32)."""
    fields = tshark_fields()
    if name in fields:
        return fields[name]
    proto = name.split(".", 1)[0]
    near = difflib.get_close_matches(name, [f for f in fields if f.split(".", 1)[0] == proto], n=3)
    raise WireError("unknown tshark field %r%s" % (name, " (did you mean %s?)" % ", ".join(near) if near else ""))


def field_bits(name):
    m = re.match(r"FT_U?INT(\d+)$", tshark_fields().get(name, ""))
    return int(m.group(1)) if m else None


def tcpdump_lines(pcap, bpf=None):
    """{number: line} as `tcpdump -# -nn -r pcap [bpf]` prints them: with a
    filter, numbers count the matching packets; without, they are frame numbers."""
    cmd = [TCPDUMP, "-#", "-nn", "-r", "-"] + ([bpf] if bpf else [])
    rc, out, err = _run(cmd, stdin_path=pcap)
    lines = {}
    for ln in out.decode("utf-8", "replace").splitlines():
        m = re.match(r"^\s*(\d+)\s+(.*)$", ln)
        if m:
            lines[int(m.group(1))] = m.group(2)
    return lines


# ---------------------------------------------------------------- checks

def _binom_two_sided(k, n):
    """Exact two-sided p of k successes in n fair trials."""
    if n == 0:
        return 1.0
    k = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n
    return min(1.0, 2 * tail)


def _poisson_upper(k, mean):
    """P(X >= k) for X ~ Poisson(mean)."""
    if k <= 0:
        return 1.0
    term, cdf = math.exp(-mean), 0.0
    for i in range(k):
        cdf += term
        term *= mean / (i + 1)
    return max(0.0, 1.0 - cdf)


def _chi2_sf_even(x, df):
    k = df // 2
    term, s = 1.0, 0.0
    for i in range(k):
        s += term
        term *= (x / 2) / (i + 1)
    return math.exp(-x / 2) * s


def randomness(values, bits):
    """(ok, [(sub-test, statistic text, p, ok)]) for the RANDOMNESS battery."""
    n, M = len(values), 1 << bits
    xs = [v % M for v in values]
    tests = []
    if n < MIN_RANDOM_N:
        return False, [("enough values", "n=%d, need >= %d" % (n, MIN_RANDOM_N), 0.0, False)]

    def add(name, stat, p, alpha=ALPHA):
        tests.append((name, stat, p, p >= alpha))

    dup = n - len(set(xs))
    mean = n * (n - 1) / 2 / M
    add("repeated values", "%d repeats (expected %.3g)" % (dup, mean), _poisson_upper(dup, mean))
    ds = [(b - a) % M for a, b in zip(xs, xs[1:])]
    ddup = len(ds) - len(set(ds))
    dmean = len(ds) * (len(ds) - 1) / 2 / M
    add("repeated differences", "%d distinct of %d differences (expected repeats %.3g)"
        % (len(set(ds)), len(ds), dmean), _poisson_upper(ddup, dmean))
    srt = sorted(set(xs))
    gaps = [b - a for a, b in zip(srt, srt[1:])] + [srt[0] + M - srt[-1]]
    span = (M - max(gaps)) / M
    add("span", "all values within %.4g of the space" % span, min(1.0, n * span ** (n - 1)))
    worst = min(((_binom_two_sided(sum((x >> b) & 1 for x in xs), n), b) for b in range(bits)))
    add("bit balance", "bit %d ones=%d of %d" % (worst[1], sum((x >> worst[1]) & 1 for x in xs), n),
        worst[0], ALPHA / bits)
    serial = []
    for b in range(min(4, bits)):
        for lag in (1, 2, 4):
            if n - lag >= 1:
                agree = sum(((xs[i] >> b) & 1) == ((xs[i + lag] >> b) & 1) for i in range(n - lag))
                serial.append((_binom_two_sided(agree, n - lag), b, lag, agree, n - lag))
    if serial:
        p, b, lag, agree, m = min(serial)
        add("low-bit serial", "bit %d equal at lag %d in %d of %d" % (b, lag, agree, m), p, ALPHA / len(serial))
    if n >= 20:
        med = sorted(xs)[n // 2]
        seq = [x >= med for x in xs if x != med]
        n1, n2 = sum(seq), len(seq) - sum(seq)
        runs = 1 + sum(a != b for a, b in zip(seq, seq[1:]))
        if n1 and n2:
            mu = 2 * n1 * n2 / (n1 + n2) + 1
            var = (mu - 1) * (mu - 2) / (n1 + n2 - 1)
            z = (runs - mu) / math.sqrt(var) if var > 0 else 0.0
            add("runs about the median", "%d runs (expected %.1f, z=%.2f)" % (runs, mu, z),
                math.erfc(abs(z) / math.sqrt(2)))
        else:
            add("runs about the median", "all values on one side", 0.0)
    if n >= 85:
        B = 17
        counts = [0] * B
        for x in xs:
            counts[x * B // M] += 1
        e = n / B
        chi = sum((c - e) ** 2 / e for c in counts)
        add("chi-square (17 bins)", "chi2=%.1f df=16" % chi, _chi2_sf_even(chi, 16))
    return all(t[3] for t in tests), tests


def run_check(name, values, bits=None):
    """(ok, explanation) of one CHECK over a list of values."""
    neg = name.startswith("not-")
    base = name[4:] if neg else name
    if ":" in base:
        base, _, w = base.partition(":")
        bits = int(w)
    if not values:
        return False, "%s: no values" % name
    ints = all(isinstance(v, int) for v in values)
    if base in ("stride-constant", "monotonic", "random") and not ints:
        raise WireError("check %s needs integer values" % name)
    if base == "distinct":
        dup = sorted({v for v in values if values.count(v) > 1}, key=str)
        ok, why = not dup, "repeated: %s" % _fmt_vals(dup) if dup else "all %d distinct" % len(values)
    elif base == "constant":
        ok = len(set(values)) == 1
        why = "all %s" % _fmt_vals(values[:1]) if ok else "%d different values" % len(set(values))
    elif base == "stride-constant":
        ds = [b - a for a, b in zip(values, values[1:])]
        if not ds:
            ok, why = False, "one value has no stride"
        else:
            ok = len(set(ds)) == 1
            why = "every difference is %d" % ds[0] if ok else "differences vary: %s" % _fmt_vals(ds)
    elif base == "monotonic":
        bad = [i for i in range(1, len(values)) if values[i] <= values[i - 1]]
        ok = not bad
        why = "strictly increasing" if ok else "value %d (%s) after %s" % (
            bad[0] + 1, values[bad[0]], values[bad[0] - 1])
    elif base == "random":
        if bits is None:
            bits = max(8, ((max(values).bit_length() + 7) // 8) * 8)
        ok, tests = randomness(values, bits)
        why = "; ".join("%s %s: %s (p=%.2g)" % ("ok" if t[3] else "FAILED", t[0], t[1], t[2]) for t in tests)
        why = "%d-bit values: %s" % (bits, why)
    else:
        raise WireError("unknown check %r (checks: %s, and not-CHECK)" % (name, ", ".join(CHECKS)))
    if neg:
        return (not ok), "%s (inverted by not-)" % why
    return ok, why


def _fmt_vals(vs, n=20):
    s = ", ".join(str(v) for v in vs[:n])
    return "[%s%s]" % (s, ", ... %d more" % (len(vs) - n) if len(vs) > n else "")


# ---------------------------------------------------------------- assertions

class CountRange:
    def __init__(self, lo, hi, text):
        self.lo, self.hi, self.text = lo, hi, text

    def __contains__(self, n):
        return (self.lo is None or n >= self.lo) and (self.hi is None or n <= self.hi)

    def __repr__(self):
        return "CountRange(%r)" % self.text

    @classmethod
    def parse(cls, text):
        t = text.strip()
        m = re.match(r"^(\d+)$", t)
        if m:
            return cls(int(t), int(t), t)
        m = re.match(r"^(\d+)\.\.(\d*)$", t)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2)) if m.group(2) else None
            if hi is not None and hi < lo:
                raise WireError("count range %r is empty" % t)
            return cls(lo, hi, t)
        m = re.match(r"^(>=|>|<=|<)(\d+)$", t)
        if m:
            op, v = m.group(1), int(m.group(2))
            lo, hi = {">=": (v, None), ">": (v + 1, None), "<=": (0, v), "<": (0, v - 1)}[op]
            if hi is not None and hi < 0:
                raise WireError("count range %r is empty" % t)
            return cls(lo, hi, t)
        raise WireError("count %r: use N, N..M, N.., >=N, >N, <=M or <M" % t)


class Match:
    __slots__ = ("number", "ts_ns", "value", "line")

    def __init__(self, number, ts_ns, value=None):
        self.number, self.ts_ns, self.value, self.line = number, ts_ns, value, None


class WireResult:
    def __init__(self, assertion, ok, reasons, matches, counted, t0):
        self.assertion, self.ok, self.reasons = assertion, ok, reasons
        self.matches, self.counted, self.t0 = matches, counted, t0
        self.values = [m.value for m in counted if m.value is not None]
        self.message = ""


def _parse_value(s):
    s = s.strip()
    if re.match(r"^-?(0x[0-9a-fA-F]+|\d+)$", s):
        return int(s, 0)
    return s


class WireAssertion:
    """Packets matching `expr` (in `lang`: "bpf" or "tshark"), optionally
    only those `within` (lo, hi) seconds of t0, their number bounded by
    `count` (a CountRange or its text), and `field` extracted for `checks`."""

    def __init__(self, lang, expr, count=None, field=None, checks=(), within=None, ref=None,
                 file=None, line=None, text=None, verify=True):
        self.lang = LANGS.get(lang)
        if self.lang is None:
            raise WireError("filter language %r: use bpf or tshark" % (lang,), file, line)
        self.expr = expr
        self.count = CountRange.parse(count) if isinstance(count, str) else count
        self.field, self.checks = field, list(checks)
        self.within, self.ref = within, ref  # ref: "start" or a step number (for the runner)
        self.file, self.line = file, line
        self.text = text or self._describe()
        self.bits = None
        if self.checks and not self.field:
            raise WireError("checks need a field", file, line)
        for c in self.checks:
            b = c[4:] if c.startswith("not-") else c
            if b.partition(":")[0] not in CHECKS:
                raise WireError("unknown check %r (checks: %s, and not-CHECK)" % (c, ", ".join(CHECKS)), file, line)
            if b.startswith("random:") and not b[7:].isdigit():
                raise WireError("check %r: random:BITS" % c, file, line)
        if within is not None and (within[0] > within[1] or within[0] < -1e9):
            raise WireError("time window %r is empty" % (within,), file, line)
        if verify:
            self.compile_check()

    def _describe(self):
        s = "wire %s %s %r" % ("field" if self.field else "count", self.lang, self.expr)
        if self.field:
            s += " %s %s" % (self.field, " ".join(self.checks))
        if self.count:
            s += " count %s" % self.count.text
        if self.within:
            s += " within %g-%gs of %s" % (self.within[0], self.within[1],
                                            "step %s" % self.ref if isinstance(self.ref, int) else "t0")
        return s

    def compile_check(self):
        """Filter and field checked with the tools; WireError names file:line."""
        try:
            compile_check(self.lang, self.expr)
            if self.field:
                check_field(self.field)
                self.bits = field_bits(self.field)
        except WireError as e:
            raise WireError(e.msg, self.file, self.line)

    # -- matching
    def _matches(self, pcap):
        if self.lang == "tshark":
            cmd = [TSHARK, "-n", "-r", pcap, "-Y", self.expr, "-T", "fields", "-E", "occurrence=f",
                   "-e", "frame.number", "-e", "frame.time_epoch"] + (["-e", self.field] if self.field else [])
            rc, out, err = _run(cmd)
            if rc != 0:
                raise WireError("tshark on %s: %s" % (pcap, err), self.file, self.line)
            return self._parse_fields(out)
        rc, out, err = _run([TCPDUMP, "-r", "-", "-w", "-", self.expr], stdin_path=pcap)
        if rc != 0:
            raise WireError("tcpdump on %s: %s" % (pcap, err), self.file, self.line)
        if not out:
            return []
        fd, tmp = tempfile.mkstemp(prefix="fwnet-wire-", suffix=".pcap")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(out)
            pkts = read_pcap(tmp)
            ms = [Match(i + 1, p.ts_ns) for i, p in enumerate(pkts)]
            if self.field:
                rc, fout, err = _run([TSHARK, "-n", "-r", tmp, "-T", "fields", "-E", "occurrence=f",
                                      "-e", "frame.number", "-e", self.field])
                if rc != 0:
                    raise WireError("tshark on %s: %s" % (pcap, err), self.file, self.line)
                for ln in fout.decode("utf-8", "replace").splitlines():
                    num, _, val = ln.partition("\t")
                    if num.strip().isdigit() and val.strip() and int(num) <= len(ms):
                        ms[int(num) - 1].value = _parse_value(val)
            return ms
        finally:
            os.unlink(tmp)

    def _parse_fields(self, out):
        ms = []
        for ln in out.decode("utf-8", "replace").splitlines():
            parts = ln.split("\t")
            if len(parts) < 2 or not parts[0].strip().isdigit():
                continue
            m = Match(int(parts[0]), to_ns(parts[1].strip()))
            if self.field and len(parts) > 2 and parts[2].strip():
                m.value = _parse_value(parts[2])
            ms.append(m)
        return ms

    def evaluate(self, pcap, t0=None):
        """A WireResult for capture `pcap` (ok or not; never raises for a
        failed assertion). t0: epoch seconds the `within` window counts from."""
        if self.within is not None and t0 is None:
            raise WireError("a time window needs t0 (the reference time)", self.file, self.line)
        matches = self._matches(pcap)
        if self.within is not None:
            t0n = to_ns(t0)
            lo, hi = t0n + to_ns(self.within[0]), t0n + to_ns(self.within[1])
            counted = [m for m in matches if lo <= m.ts_ns <= hi]
        else:
            counted = list(matches)
        reasons = []
        win = " within %g-%g s of t0" % self.within if self.within else ""
        if self.count is not None and len(counted) not in self.count:
            reasons.append("%d packet%s matched%s, expected count %s" % (
                len(counted), "" if len(counted) == 1 else "s", win, self.count.text))
        if self.field:
            vals = [m.value for m in counted if m.value is not None]
            missing = len(counted) - len(vals)
            for c in self.checks:
                b = c[4:] if c.startswith("not-") else c
                bits = self.bits if b == "random" else None
                ok, why = run_check(c, vals, bits)
                if not ok:
                    reasons.append("%s %s failed: %s%s" % (self.field, c, why,
                                   " (%d matching packets lack the field)" % missing if missing else ""))
        res = WireResult(self, not reasons, reasons, matches, counted, t0)
        if not res.ok:
            res.message = self._message(pcap, res)
        return res

    def check(self, pcap, t0=None):
        """evaluate(), raising WireFailure when the assertion does not hold."""
        res = self.evaluate(pcap, t0)
        if not res.ok:
            raise WireFailure(res)
        return res

    def _message(self, pcap, res):
        where = "%s:%s: " % (self.file, self.line) if self.file is not None else ""
        out = ["%s%s: FAILED" % (where, self.text)]
        out += ["  " + r for r in res.reasons]
        out.append("  filter (%s): %s" % (self.lang, self.expr))
        if self.field:
            out.append("  %s values: %s" % (self.field, _fmt_vals(res.values)))
        if self.lang == "bpf":
            shown = "tcpdump -nn -r %s %s" % (os.path.basename(pcap), shlex.quote(self.expr))
            lines = tcpdump_lines(pcap, self.expr) if res.matches else {}
        else:
            shown = "tcpdump -nn -r %s, frames tshark matched" % os.path.basename(pcap)
            lines = tcpdump_lines(pcap) if res.matches else {}
        counted = {id(m) for m in res.counted}
        out.append("  %d matching packet%s (%s)%s:" % (
            len(res.matches), "" if len(res.matches) == 1 else "s", shown,
            "; * = inside the time window, times from t0" if self.within else ""))
        t0n = to_ns(res.t0) if res.t0 is not None else None
        first = 0
        if self.within and res.counted:  # show the window, with a little before it
            first = max(0, res.matches.index(res.counted[0]) - 3)
        if first:
            out.append("    ... %d earlier" % first)
        for m in res.matches[first:first + MAX_LINES]:
            pre = ""
            if self.within:
                pre = "%s %+8.3fs  " % ("*" if id(m) in counted else " ", (m.ts_ns - t0n) / 1e9)
            out.append("    %s%s" % (pre, lines.get(m.number, "(frame %d)" % m.number)))
        if len(res.matches) > first + MAX_LINES:
            out.append("    ... %d more" % (len(res.matches) - first - MAX_LINES))
        return "\n".join(out)


# ---------------------------------------------------------------- step syntax

def parse_wire_step(text, file=None, line=None, verify=True):
    """A WireAssertion from one `wire ...` step line (see the module
    docstring); errors are WireError naming file:line. verify: compile the
    filter and look the field up now."""
    def err(msg):
        return WireError(msg, file, line)

    try:
        words = shlex.split(text, comments=False, posix=True)
    except ValueError as e:
        raise err("wire step: %s (quote the filter: \"...\")" % e)
    if words and words[0] == "wire":
        words = words[1:]
    if not words or words[0] not in ("count", "field"):
        raise err('wire step: wire count [bpf|tshark] "FILTER" RANGE [within A-Bs of step N] '
                  '| wire field [bpf|tshark] "FILTER" FIELD CHECK... [count RANGE] [within ...]')
    kind, rest = words[0], words[1:]
    lang = "bpf"
    if rest and rest[0] in LANGS:
        lang, rest = rest[0], rest[1:]
    if not rest:
        raise err("wire %s: missing filter" % kind)
    expr, rest = rest[0], rest[1:]
    if not expr.strip():
        raise err("wire %s: empty filter" % kind)
    # the time window, wherever it is
    within, ref = None, None
    if "within" in rest:
        i = rest.index("within")
        tail = rest[i + 1:]
        if len(tail) < 3 or tail[1] != "of":
            raise err("wire: within A-Bs of step N (or: of start)")
        m = re.match(r"^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)(s|ms)$", tail[0])
        if not m:
            raise err("wire: time window %r: A-Bs or A-Bms, e.g. 1-4s" % tail[0])
        scale = 1e-3 if m.group(3) == "ms" else 1.0
        within = (float(m.group(1)) * scale, float(m.group(2)) * scale)
        if within[0] > within[1]:
            raise err("wire: time window %r is empty" % tail[0])
        if tail[2] == "start":
            ref, used = "start", 3
        elif tail[2] == "step" and len(tail) >= 4 and tail[3].isdigit() and int(tail[3]) >= 1:
            ref, used = int(tail[3]), 4
        else:
            raise err("wire: within ... of step N (N a step number from 1) or of start")
        rest = rest[:i] + rest[i + 1 + used:]
    count, field, checks = None, None, []
    try:
        if kind == "count":
            if "count" in rest:
                rest.remove("count")
            if len(rest) != 1:
                raise err('wire count: one count range after the filter (e.g. 2..4, >=1, 0), got %s'
                          % (" ".join(rest) or "none"))
            count = CountRange.parse(rest[0])
        else:
            if not rest:
                raise err("wire field: missing FIELD (a tshark field name, e.g. tcp.seq_raw)")
            field, rest = rest[0], rest[1:]
            if "count" in rest:
                i = rest.index("count")
                if i + 1 >= len(rest):
                    raise err("wire field: count needs a range")
                count = CountRange.parse(rest[i + 1])
                rest = rest[:i] + rest[i + 2:]
            checks = rest
            if not checks:
                raise err("wire field: name at least one check (%s, or not-CHECK)" % ", ".join(CHECKS))
    except WireError as e:
        if e.file is None:
            raise err(e.msg)
        raise
    return WireAssertion(lang, expr, count=count, field=field, checks=checks, within=within, ref=ref,
                         file=file, line=line, text=text.strip() if text.strip().startswith("wire")
                         else "wire " + text.strip(), verify=verify)
