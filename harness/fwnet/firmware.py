"""Firmware: QEMU's firmware descriptors (docs/interop/firmware.json), what a
--firmware argument names, how QEMU boots it, and its identity.

A firmware argument is one of
  a descriptor name     `60-edk2-x86_64` (or without its priority: `edk2-x86_64`)
  a descriptor file     a *.json following firmware.json
  a directory           every descriptor in it
  a CODE file           /usr/share/OVMF/OVMF_CODE_4M.secboot.fd: its descriptor when one
                        names it, else its vars template found by name (OVMF_VARS*.fd)
                        and features guessed from the name (secboot, ms, snakeoil)
A firmware is a dict: name, code, code_format, vars, vars_format, mapping
(flash|memory), arch (x86_64|i386), machines, features, descriptor,
description; `resolve` raises FirmwareError naming what is missing.
"""
import glob
import hashlib
import json
import os
import re

FIRMWARE_DIRS = ["/usr/share/qemu/firmware", "/etc/qemu/firmware"]
ARCHES = {"x86_64": "qemu-system-x86_64", "i386": "qemu-system-i386"}
FORMATS = ("raw", "qcow2")


class FirmwareError(Exception):
    pass


def parse_descriptor(path):
    """One descriptor file as a firmware dict (FirmwareError when it is
    unreadable, not UEFI, or uses a mapping or format fwnet cannot boot)."""
    try:
        with open(path) as f:
            j = json.load(f)
    except (OSError, ValueError) as e:
        raise FirmwareError("%s: unreadable descriptor: %s" % (path, e))
    if not isinstance(j, dict):
        raise FirmwareError("%s: not a firmware descriptor (no JSON object)" % path)
    name = os.path.splitext(os.path.basename(path))[0]
    fw = {"name": name, "descriptor": os.path.abspath(path), "description": j.get("description", ""),
          "interface_types": list(j.get("interface-types", [])), "features": list(j.get("features", [])),
          "code": None, "vars": None, "code_format": "raw", "vars_format": "raw"}
    targets = j.get("targets") or []
    fw["arch"] = targets[0].get("architecture", "?") if targets else "?"
    fw["machines"] = [m for t in targets for m in t.get("machines", [])]
    m = j.get("mapping") or {}
    dev = m.get("device")
    fw["mapping"] = dev
    if dev == "flash":
        ex, nv = m.get("executable") or {}, m.get("nvram-template") or {}
        fw["code"], fw["code_format"] = ex.get("filename"), ex.get("format", "raw")
        fw["vars"], fw["vars_format"] = nv.get("filename"), nv.get("format", "raw")
        if m.get("mode", "split") != "split":
            fw["error"] = "flash mode %r is not supported (split only)" % m.get("mode")
    elif dev == "memory":
        fw["code"] = m.get("filename")
    else:
        fw["error"] = "unknown mapping device %r (flash or memory)" % dev
    for k in ("code_format", "vars_format"):
        if fw[k] not in FORMATS and "error" not in fw:
            fw["error"] = "unknown %s %r (raw or qcow2)" % (k.replace("_", " "), fw[k])
    if "uefi" not in fw["interface_types"] and "error" not in fw:
        fw["error"] = "not UEFI (interface-types %s)" % ",".join(fw["interface_types"])
    fw["present"] = present(fw)
    return fw


def present(fw):
    return bool(fw.get("code") and os.path.exists(fw["code"]) and
                (fw.get("mapping") == "memory" or (fw.get("vars") and os.path.exists(fw["vars"]))))


def descriptors(extra_dirs=()):
    """Every descriptor of QEMU's directories and extra_dirs, in order; a
    broken one as {name, descriptor, error}."""
    out = []
    for d in list(FIRMWARE_DIRS) + list(extra_dirs):
        for f in sorted(glob.glob(os.path.join(d, "*.json"))):
            try:
                out.append(parse_descriptor(f))
            except FirmwareError as e:
                out.append({"name": os.path.splitext(os.path.basename(f))[0], "descriptor": f,
                            "error": str(e), "present": False, "features": [], "arch": "?", "code": None})
    return out


def _guess_features(code):
    b = os.path.basename(code).lower()
    feats = []
    if "secboot" in b or ".ms." in b or "snakeoil" in b:
        feats += ["requires-smm", "secure-boot"]
    if ".ms." in b or "snakeoil" in b:
        feats.append("enrolled-keys")
    if "_4m" in b:
        # Debian's 4M builds have a 32-bit PEI that supports S3 (their
        # descriptors say acpi-s3); the 2M ones keep a 64-bit PEI without it
        # (edk2 2020.11-1 changelog), and with SMM they hang at once unless
        # S3 is off (qemu_args).
        feats.append("acpi-s3")
    return feats


def vars_candidates(code):
    """Vars templates a CODE file's name suggests, best first:
    OVMF_CODE_4M.secboot.fd → OVMF_VARS_4M.secboot.fd, OVMF_VARS_4M.fd."""
    d, b = os.path.split(code)
    v = b.replace("CODE", "VARS")
    cands = [v]
    stem, ext = os.path.splitext(v)
    while "." in stem:  # drop the variant suffixes one at a time
        stem = stem.rsplit(".", 1)[0]
        cands.append(stem + ext)
    return [os.path.join(d, c) for c in cands if c != b]


def from_code(path, extra_dirs=()):
    """A CODE file: the descriptor that names it, else a firmware from its name."""
    # By the path as given: Debian's *.ms.fd and *.snakeoil.fd CODE are
    # links to *.secboot.fd, told apart only by their vars templates.
    absp = os.path.abspath(path)
    for fw in descriptors(extra_dirs):
        if fw.get("code") and os.path.abspath(fw["code"]) == absp and "error" not in fw:
            return fw
    vars_ = next((c for c in vars_candidates(path) if os.path.exists(c)), None)
    if not vars_:
        raise FirmwareError("firmware %s: no vars template beside it (tried %s)"
                            % (path, ", ".join(os.path.basename(c) for c in vars_candidates(path))))
    arch = "i386" if re.search(r"ia32|OVMF32|i386", path, re.I) else "x86_64"
    return {"name": os.path.basename(path), "code": os.path.abspath(path), "vars": vars_, "code_format": "raw",
            "vars_format": "raw", "mapping": "flash", "arch": arch, "machines": [],
            "features": _guess_features(path), "descriptor": None, "description": "by file name",
            "present": True}


def resolve(arg, extra_dirs=()):
    """A --firmware argument as a list of firmware (a directory gives
    several). None: the default (Debian's OVMF without Secure Boot)."""
    if arg is None:
        for fw in descriptors(extra_dirs):
            if fw.get("present") and fw.get("arch") == "x86_64" and "error" not in fw and \
                    "secure-boot" not in fw["features"] and "enrolled-keys" not in fw["features"] and \
                    fw.get("mapping") == "flash":
                return [fw]
        raise FirmwareError("no x86_64 OVMF found (Debian package: ovmf); descriptors in %s"
                            % ", ".join(FIRMWARE_DIRS))
    if os.path.isdir(arg):
        fws = [parse_or_error(f) for f in sorted(glob.glob(os.path.join(arg, "*.json")))]
        if not fws:
            raise FirmwareError("firmware directory %s holds no *.json descriptor" % arg)
        return fws
    if arg.endswith(".json") and os.path.exists(arg):
        return [parse_descriptor(arg)]
    if os.path.exists(arg):
        return [from_code(arg, extra_dirs)]
    for fw in descriptors(extra_dirs):
        if arg in (fw["name"], re.sub(r"^\d+-", "", fw["name"])):
            return [fw]
    if "/" in arg:
        raise FirmwareError("firmware '%s' not found (no such file)" % arg)
    raise FirmwareError("firmware %r not found; `fwnet firmware` lists what is installed" % arg)


def parse_or_error(path):
    try:
        return parse_descriptor(path)
    except FirmwareError as e:
        return {"name": os.path.splitext(os.path.basename(path))[0], "descriptor": path, "error": str(e),
                "present": False, "features": [], "arch": "?", "code": None}


def check(fw):
    """FirmwareError unless fw can be booted: no descriptor error, CODE and
    vars present."""
    if fw.get("error"):
        raise FirmwareError("%s: %s" % (fw.get("descriptor") or fw["name"], fw["error"]))
    if not fw.get("code") or not os.path.exists(fw["code"]):
        raise FirmwareError("firmware %s: CODE file %s is missing" % (fw["name"], fw.get("code")))
    if fw.get("mapping") == "flash" and (not fw.get("vars") or not os.path.exists(fw["vars"])):
        raise FirmwareError("firmware %s: vars template %s is missing" % (fw["name"], fw.get("vars")))
    if fw.get("arch") not in ARCHES:
        raise FirmwareError("firmware %s: architecture %s (fwnet boots %s)" % (fw["name"], fw.get("arch"),
                                                                               ", ".join(ARCHES)))
    return fw


def pick(arg=None, extra_dirs=()):
    """Exactly one bootable firmware for a --firmware argument."""
    fws = resolve(arg, extra_dirs)
    if len(fws) != 1:
        raise FirmwareError("firmware %s names %d firmware; give one (or use fwnet matrix)" % (arg, len(fws)))
    return check(fws[0])


_SHA = {}


def sha256(path):
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime)
    if key not in _SHA:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for b in iter(lambda: f.read(1 << 20), b""):
                h.update(b)
        _SHA[key] = h.hexdigest()
    return _SHA[key]


def identity(fw):
    """What the host knows of a firmware: its CODE file's sha256 and where it
    came from (the guest adds vendor, revision and SMBIOS: fwinfo)."""
    out = {"name": fw["name"], "code": fw.get("code"), "vars": fw.get("vars"), "descriptor": fw.get("descriptor"),
           "features": fw.get("features", []), "arch": fw.get("arch")}
    if fw.get("code") and os.path.exists(fw["code"]):
        out["sha256"] = sha256(fw["code"])
    if fw.get("vars") and os.path.exists(fw["vars"]):
        out["vars_sha256"] = sha256(fw["vars"])
    if fw.get("code"):
        out.update(package_of(fw["code"]))
    return out


_PKG = {}


def package_of(path):
    """The Debian package that installed a file, and its version:
    {"package": "ovmf", "package_version": "2022.11-6+deb12u2"} (empty when
    dpkg does not know the file)."""
    import subprocess
    real = os.path.realpath(path)
    if real not in _PKG:
        out = {}
        for p in dict.fromkeys([path, real]):
            try:
                r = subprocess.run(["dpkg-query", "-S", p], capture_output=True, text=True, timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                break
            if r.returncode == 0 and ":" in r.stdout:
                pkg = r.stdout.split(":", 1)[0].split(",")[0].strip()
                v = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True)
                out = {"package": pkg, "package_version": v.stdout.strip() or None}
                break
        _PKG[real] = out
    return dict(_PKG[real])


def qemu_args(fw, vars_path):
    """(machine args, firmware args) for QEMU: q35 (smm=on and a secure
    pflash when the firmware requires SMM), pflash units with the
    descriptor's formats (code read-only), or -bios for a memory mapping."""
    smm = "requires-smm" in fw.get("features", [])
    machine = ["-machine", "q35,smm=on" if smm else "q35"]
    if smm:
        machine += ["-global", "driver=cfi.pflash01,property=secure,value=on"]
        if "acpi-s3" not in fw.get("features", []):
            # firmware.json: without acpi-s3, S3 is to be disabled (q35:
            # ICH9-LPC.disable_s3=1); SMM firmware without S3 support
            # (Debian's 2M OVMF_CODE.secboot.fd) otherwise hangs silently.
            machine += ["-global", "ICH9-LPC.disable_s3=1"]
    for v in fw.get("fw_cfg") or []:  # name=opt/org.tianocore/IPv6Support,string=n
        if not v.startswith("name=opt/") or ",string=" not in v:
            raise FirmwareError("fw_cfg toggle %r: name=opt/...,string=VALUE only" % v)
        machine += ["-fw_cfg", v]
    if fw.get("mapping", "flash") == "memory":
        return machine, ["-bios", fw["code"]]
    if fw.get("mapping", "flash") != "flash":
        raise FirmwareError("firmware %s: unknown mapping %r" % (fw["name"], fw.get("mapping")))
    return machine, ["-drive", "if=pflash,format=%s,unit=0,readonly=on,file=%s" % (fw.get("code_format", "raw"), fw["code"]),
                     "-drive", "if=pflash,format=%s,unit=1,file=%s" % (fw.get("vars_format", "raw"), vars_path)]


def parse_fwinfo(reply):
    """The agent's fwinfo reply (a parse_reply dict) as identity fields;
    the agent writes spaces as '_'."""
    def txt(k):
        v = reply.get(k)
        return None if v in (None, "-") else v.replace("_", " ")
    out = {"vendor": txt("vendor"), "revision": reply.get("rev"), "uefi": reply.get("uefi"),
           "smbios": reply.get("smbios"), "bios_vendor": txt("bios_vendor"), "bios_version": txt("bios_version"),
           "bios_date": txt("bios_date"), "snp_handles": reply.get("snp")}
    drv = reply.get("nic_driver")
    drivers = [] if drv in (None, "-") else [d.replace("_", " ") for d in drv.split(",")]
    # PxeBcDxe's virtual NIC children carry an SNP of their own: not the NIC's driver
    out["nic_drivers"] = drivers or None
    nic = [d for d in drivers if "PXE Base Code" not in d]
    out["nic_driver"] = nic[0] if nic else None
    return out
