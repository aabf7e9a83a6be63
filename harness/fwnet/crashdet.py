"""Crash and hang detection for firmware guests, from what they write and send.

Sources:
  - serial (COM1): EDK2's CPU exception dumps. CpuExceptionHandlerLib prints them
    with SerialPortWrite, so a RELEASE build shows them too:
        !!!! X64 Exception Type - 0D(#GP - General Protection)  CPU Apic ID - 00000000 !!!!
        ExceptionData - 0000000000000000
        RIP  - 000000007E8B1234, CS  - 0000000000000038, RFLAGS - 0000000000010206
        RAX  - ...  (register lines)
        !!!! Find image based on IP(0x7E8B1234) /.../Ip6Dxe.dll (ImageBase=..., EntryPoint=...) !!!!
    (IA32: "IA32 Exception Type", "EIP  - ...".)
  - debugcon (port 0x402, DEBUG builds only): ASSERTs
        ASSERT [Ip6Dxe] /.../NetworkPkg/Ip6Dxe/Ip6Option.c(123): Expression
    (RELEASE builds compile ASSERTs out: there an assertion cannot be seen.)
  - resets: the firmware starting again after it started once: a second SEC/PEI
    banner on debugcon, the boot manager's first "BdsDxe: loading/starting Boot..."
    line seen a second time on serial, or ResetSystem's own message.
  - hangs: nothing written (serial or debugcon) and no frame from the guest's MAC
    for HANG_AFTER seconds while a reply from the agent is due. CPU use tells
    nothing (PXE and the agent busy-poll); the guest's silence on the wire does.

Runner integration: when a scenario step times out (or the guest stops
answering), call
    v = classify(serial_text, debugcon_text, last_guest_frame_time, now,
                 last_output_time=..., reply_due_since=step_start)
and, if v is not None, `write_dump(v, scenario_out_dir, scenario_name)` and put
`v.summary()` in the scenario's error (the verdict names it). Call it also after
any scenario whose guest died (QEMU exited): the exception/assert/reset kinds do
not need the time arguments. `last_guest_frame(pcap, mac)` gives
last_guest_frame_time from the capture; `classify_run(run_dir, now,
reply_due_since)` does it all from a run directory's serial.log, debugcon.log
and capture.pcap (the logs' mtimes as the last console byte).
"""
import json
import os
import re

HANG_AFTER = 10.0

_EXC = re.compile(r"!!!! (X64|IA32) Exception Type - ([0-9A-Fa-f]{2})\(([^)]*)\)\s+CPU Apic ID - ([0-9A-Fa-f]+) !!!!")
_IP = re.compile(r"^\s*(RIP|EIP)\s+-\s+([0-9A-Fa-f]+)", re.M)
_REG = re.compile(r"^\s*([A-Z][A-Z0-9]{1,3}|GDTR|IDTR|LDTR|FXSAVE_STATE|ExceptionData)\s+-\s+[0-9A-Fa-f]+")
_IMAGE = re.compile(r"!!!! Find image based on IP\(0x([0-9A-Fa-f]+)\)\s*(.*?)\s*\(ImageBase=([0-9A-Fa-f]+),\s*"
                    r"EntryPoint=([0-9A-Fa-f]+)\)\s*!!!!")
_NOIMAGE = "!!!! Can't find image information. !!!!"
# "ASSERT [Module] file(line): expr" (newer DebugLib), or "ASSERT file(line): expr" (2022.11's: no module,
# which is then the NetworkPkg/<Module>/ directory of the file when there is one)
_ASSERT = re.compile(r"ASSERT (?:\[([^\]]+)\] )?(\S.*?)\((\d+)\): ?(.*)")
_MODULE_DIR = re.compile(r"[/\\](?:NetworkPkg|MdeModulePkg/Universal/Network|OvmfPkg|MdeModulePkg|MdePkg)"
                         r"(?:[/\\][^/\\]+)*?[/\\]([A-Za-z0-9_]+(?:Dxe|Pei|Lib|Smm))[/\\]")
# the firmware starting: SEC's first message (debugcon, DEBUG builds), and the
# boot manager's first attempt (serial console, every build)
_SEC = re.compile(r"SecCoreStartupWithStack\(|^SEC: ", re.M)
_BDS = re.compile(r"^BdsDxe: (?:loading|starting) Boot[0-9A-Fa-f]{4}\b.*$", re.M)
_RESET = re.compile(r"^.*\b(?:ResetSystem2?: ResetType \S+|ResetCold\b|ResetWarm\b|ResetShutdown\b|"
                    r"Reset(?:ting)? (?:the )?system\b).*$", re.M)


class Verdict:
    """What went wrong. kind: exception | assert | reset | hang."""
    FIELDS = ("kind", "type", "rip", "image", "image_base", "module", "file", "line", "evidence", "source")

    def __init__(self, kind, **kw):
        self.kind = kind
        for f in self.FIELDS[1:]:
            setattr(self, f, kw.get(f))
        self.more = kw.get("more", [])

    def as_dict(self):
        d = {f: getattr(self, f) for f in self.FIELDS if getattr(self, f) is not None}
        if self.more:
            d["more"] = [m.as_dict() for m in self.more]
        return d

    def summary(self):
        if self.kind == "exception":
            s = "CPU exception %s" % self.type
            if self.rip:
                s += " at RIP %s" % self.rip
            if self.image:
                s += " in %s" % self.image
            return s
        if self.kind == "assert":
            return "ASSERT [%s] %s(%s)%s" % (self.module, self.file, self.line,
                                              ": " + self.type if self.type else "")
        if self.kind == "reset":
            return "firmware reset (%s)" % self.type
        return "hang: %s" % self.type

    def __repr__(self):
        return "Verdict(%s)" % self.as_dict()


def _text(t):
    if t is None:
        return ""
    if isinstance(t, bytes):
        return t.decode("latin-1")
    return t


def _norm(t):
    return _text(t).replace("\r\n", "\n").replace("\r", "\n")


def _basename(path):
    return re.split(r"[\\/]", path.strip())[-1] if path.strip() else ""


def find_exceptions(text, source="serial"):
    """Every CPU exception dump in text, first first."""
    text = _norm(text)
    out = []
    matches = list(_EXC.finditer(text))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        block = text[m.start():end]
        lines = block.split("\n")
        keep = [lines[0]]
        for ln in lines[1:]:
            if _REG.match(ln) or "!!!!" in ln or ln.strip().startswith(("I:", "ExceptionData")):
                keep.append(ln)
            elif ln.strip() == "":
                continue
            elif len(keep) > 3:
                break
        block = "\n".join(keep)
        ip = _IP.search(block)
        img = _IMAGE.search(block)
        rip = ("0x%x" % int(ip.group(2), 16)) if ip else None
        image = image_base = module = None
        if img:
            image = _basename(img.group(2)) or img.group(2).strip() or None
            image_base = "0x%x" % int(img.group(3), 16)
            if image and image.lower().endswith((".dll", ".efi", ".pdb", ".debug")):
                module = image.rsplit(".", 1)[0]
            if rip is None:
                rip = "0x%x" % int(img.group(1), 16)
        elif _NOIMAGE in block:
            image = None
        vec = m.group(2).upper()
        out.append(Verdict("exception", type="%s (vector 0x%s)" % (m.group(3).strip(), vec),
                           rip=rip, image=image, image_base=image_base, module=module, evidence=block,
                           source=source))
    return out


def find_asserts(text, source="debugcon"):
    out = []
    for ln in _norm(text).split("\n"):
        m = _ASSERT.search(ln)
        if m:
            f = m.group(2).strip()
            mod = m.group(1)
            if mod is None:
                md = _MODULE_DIR.search(f)
                mod = md.group(1) if md else None
            out.append(Verdict("assert", module=mod, file=_basename(f), line=int(m.group(3)),
                               type=m.group(4).strip() or None, evidence=ln.strip(), source=source))
    return out


def find_reset(serial_text="", debugcon_text="", start_markers=()):
    """A reset: the firmware (or the agent: start_markers, regexes) starting a second time."""
    dbg, ser = _norm(debugcon_text), _norm(serial_text)
    sec = list(_SEC.finditer(dbg))
    if len(sec) > 1:
        return Verdict("reset", type="SEC started again", source="debugcon",
                       evidence=_around(dbg, sec[1].start()))
    m = _RESET.search(dbg) or _RESET.search(ser)
    if m:
        return Verdict("reset", type="ResetSystem called", source="debugcon" if _RESET.search(dbg) else "serial",
                       evidence=m.group(0).strip())
    bds = list(_BDS.finditer(ser))
    if bds:
        first = bds[0].group(0).strip()
        for b in bds[1:]:
            if b.group(0).strip() == first:
                return Verdict("reset", type="boot manager started again", source="serial",
                               evidence="%s ... %s" % (first, _around(ser, b.start())))
    for pat in start_markers:
        ms = list(re.finditer(pat, ser, re.M))
        if len(ms) > 1:
            return Verdict("reset", type="started again (%s)" % pat, source="serial",
                           evidence=_around(ser, ms[1].start()))
    return None


def _around(text, pos, n=300):
    return text[max(0, pos - 80):pos + n].strip()


def detect_hang(last_output_time, last_guest_frame_time, now, reply_due_since, hang_after=HANG_AFTER):
    """A hang: a reply has been due since reply_due_since and the guest has
    written nothing (serial/debugcon) and sent no frame for hang_after seconds.
    Times are epoch seconds (None: never)."""
    if reply_due_since is None:
        return None
    last = max([t for t in (last_output_time, last_guest_frame_time, reply_due_since) if t is not None])
    quiet = now - last
    if quiet < hang_after:
        return None
    def ago(t):
        return "never" if t is None else "%.1f s before" % (now - t)
    return Verdict("hang", type="silent for %.1f s while a reply was due" % quiet, source="wire+console",
                   evidence="reply due since %s; last serial/debugcon byte %s; last frame from the guest %s; "
                            "threshold %.0f s" % (ago(reply_due_since), ago(last_output_time),
                                                  ago(last_guest_frame_time), hang_after))


def last_guest_frame(pcap, mac):
    """Epoch time of the last Ethernet frame from `mac` in a capture (None: none)."""
    from . import wire
    want = bytes(int(x, 16) for x in re.split(r"[:-]", mac))
    last = None
    try:
        pkts = wire.read_pcap(pcap)
    except (OSError, ValueError, wire.WireError):
        return None
    for p in pkts:
        if p.linktype == 1 and p.data[6:12] == want:
            last = p.time
    return last


def classify(serial_text, debugcon_text, last_guest_frame_time, now, *, last_output_time=None,
             reply_due_since=None, hang_after=HANG_AFTER, start_markers=()):
    """The first thing that went wrong, or None: an exception, else an assert,
    else a reset, else a hang (only when reply_due_since is given). Later
    exceptions and asserts are kept in .more."""
    found = (find_exceptions(serial_text, "serial") + find_exceptions(debugcon_text, "debugcon"))
    asserts = find_asserts(debugcon_text, "debugcon") + find_asserts(serial_text, "serial")
    if found:
        v = found[0]
        v.more = found[1:] + asserts
        return v
    if asserts:
        v = asserts[0]
        v.more = asserts[1:]
        return v
    r = find_reset(serial_text, debugcon_text, start_markers)
    if r:
        return r
    return detect_hang(last_output_time, last_guest_frame_time, now, reply_due_since, hang_after)


def _read_all(run_dir, pattern):
    import glob
    txt, mt = "", None
    for p in sorted(glob.glob(os.path.join(run_dir, "**", pattern), recursive=True)):
        with open(p, "rb") as f:
            txt += f.read().decode("latin-1")
        mt = max(mt or 0, os.path.getmtime(p))
    return txt, mt


def classify_run(run_dir, now, reply_due_since=None, mac="52:54:00:12:34:56", hang_after=HANG_AFTER,
                 start_markers=()):
    """classify() over a run directory's files: serial.log, debugcon.log and
    capture.pcap (anywhere below run_dir); the last console byte is taken
    from the logs' modification times."""
    import glob
    serial, s_mt = _read_all(run_dir, "serial.log")
    debugcon, d_mt = _read_all(run_dir, "debugcon.log")
    last_frame = None
    for pcap in glob.glob(os.path.join(run_dir, "**", "capture.pcap"), recursive=True):
        t = last_guest_frame(pcap, mac)
        if t is not None:
            last_frame = max(last_frame or 0, t)
    last_out = max([t for t in (s_mt, d_mt) if t] or [0]) or None
    return classify(serial, debugcon, last_frame, now, last_output_time=last_out, reply_due_since=reply_due_since,
                    hang_after=hang_after, start_markers=start_markers)


def write_dump(verdict, out_dir, scenario):
    """Keep the verdict with the scenario's results: <scenario>.crash.json and .txt."""
    os.makedirs(out_dir, exist_ok=True)
    base = os.path.join(out_dir, re.sub(r"[^A-Za-z0-9_.-]", "_", scenario) + ".crash")
    with open(base + ".json", "w") as f:
        json.dump(verdict.as_dict(), f, indent=2)
        f.write("\n")
    with open(base + ".txt", "w") as f:
        f.write(verdict.summary() + "\n\n" + (verdict.evidence or "") + "\n")
    return base + ".json"
