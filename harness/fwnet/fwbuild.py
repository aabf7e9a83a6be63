"""`fwnet firmware build VARIANT`: OVMF built from Debian's own edk2 source
package, as Debian builds it, into a cache the matrix can take.

Source: `apt-get source edk2` (a deb-src entry, as ci/install-deps.sh's
fetch_lwip adds one), unpacked with Debian's patches into build/deps/edk2-src.
One tree, switched: the variants without the security patches reverse
Debian's NetworkPkg patches (0015 -> 0001, `patch -R`) in that tree and the
next Debian-patched build applies them again, so a switch is the incremental
path (about 22 s here: only Dhcp6Dxe, Ip6Dxe and UefiPxeBcDxe recompile). The
tree's state is recorded in build/deps/edk2-src/.fwnet-network-patches; a lock
keeps two builds out of the tree at once.

Each variant lands in build/cache/firmware/<variant>-<source-version>/:
OVMF_CODE_4M.fd, OVMF_VARS_4M.fd, fwnet-<variant>.json (QEMU's firmware descriptor,
docs/interop/firmware.json; its name is the firmware's name), identity.json and build.log. It is written into a
temporary directory beside it and renamed at the end: a failed build leaves no
entry (its log is kept as build/cache/firmware/<variant>-failed.log).
"""
import datetime
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from . import build as bld

DEPS = os.path.join(bld.ROOT, "build", "deps")
SRC = os.path.join(DEPS, "edk2-src")
CACHE = os.path.join(bld.ROOT, "build", "cache", "firmware")
STATE_FILE = ".fwnet-network-patches"
PYTHON = "/usr/bin/python3"
TOOLCHAIN = "GCC5"
DSC = "OvmfPkg/OvmfPkgIa32X64.dsc"
# debian/rules: COMMON_FLAGS + OVMF_4M_FLAGS, the OVMF_CODE_4M.fd build
DEBIAN_FLAGS = ["-DNETWORK_HTTP_BOOT_ENABLE=TRUE", "-DNETWORK_IP6_ENABLE=TRUE", "-DNETWORK_TLS_ENABLE",
                "-DSECURE_BOOT_ENABLE=TRUE", "-DTPM2_ENABLE=TRUE", "-DFD_SIZE_4MB"]
# OvmfPkgIa32X64.dsc's default is 0x8000004F; 0x4000 is DEBUG_NET (MdePkg DebugLib.h), which
# the network drivers' own messages use. A DEBUG build writes to debugcon (port 0x402) unless
# DEBUG_ON_SERIAL_PORT is defined (the .dsc tests it with !ifdef, so it is left undefined).
DEBUG_PCDS = ["gEfiMdePkgTokenSpaceGuid.PcdDebugPrintErrorLevel=0x8000404F"]
FIRMWARE_PKGS = ["nasm", "acpica-tools", "uuid-dev", "dpkg-dev", "xz-utils", "gcc", "make", "python3"]
# Debian's NetworkPkg patches (the PixieFail fixes, their unit tests, SecurityFixes.yaml)
NETWORK_PATCH_RE = re.compile(r"^00\d\d-NetworkPkg-")


class FirmwareBuildError(Exception):
    pass


class Variant:
    def __init__(self, name, build_type, security_patches, pcds=(), doc=""):
        self.name, self.build_type, self.security_patches = name, build_type, security_patches
        self.pcds, self.doc = list(pcds), doc

    def command(self):
        cmd = ["build", "-a", "IA32", "-a", "X64", "-t", TOOLCHAIN, "-p", DSC] + DEBIAN_FLAGS
        for p in self.pcds:
            cmd += ["--pcd", p]
        return cmd + ["-b", self.build_type]

    def out_dir(self, src):
        return os.path.join(src, "Build", "Ovmf3264", "%s_%s" % (self.build_type, TOOLCHAIN), "FV")


VARIANTS = {v.name: v for v in [
    Variant("debian", "RELEASE", True,
            doc="Debian's build: Debian's patches as dpkg-source applies them, debian/rules' invocation"),
    Variant("no-security-patches", "RELEASE", False,
            doc="Debian's build with its NetworkPkg security patches reversed (PixieFail bugs present)"),
    Variant("debug", "DEBUG", True, DEBUG_PCDS,
            doc="DEBUG build, Debian's patches; messages (DEBUG_NET included) and ASSERTs on debugcon 0x402"),
    Variant("debug-no-security-patches", "DEBUG", False, DEBUG_PCDS,
            doc="DEBUG build without the NetworkPkg security patches"),
]}


def get_variant(name):
    v = VARIANTS.get(name)
    if v is None:
        raise FirmwareBuildError("no such firmware variant: %r (variants: %s)" % (name, ", ".join(VARIANTS)))
    return v


# ---- source ----

def source_version(src=SRC):
    dsc = os.path.join(src, "debian", "fwnet-fetched.dsc")
    if os.path.exists(dsc):
        with open(dsc) as f:
            m = re.search(r"^Version: (\S+)", f.read(), re.M)
            if m:
                return m.group(1)
    with open(os.path.join(src, "debian", "changelog")) as f:
        m = re.match(r"\S+ \(([^)]+)\)", f.readline())
    if not m:
        raise FirmwareBuildError("%s: no version in debian/changelog" % src)
    return m.group(1)


def _log(log, msg):
    with open(log, "a") as f:
        f.write(msg if msg.endswith("\n") else msg + "\n")


def fetch_source(src=SRC, log=None):
    """Debian's edk2 source package, unpacked with its patches (dpkg-source -x)."""
    if os.path.exists(os.path.join(src, "edksetup.sh")):
        return src
    log = log or os.path.join(DEPS, "edk2-fetch.log")
    os.makedirs(DEPS, exist_ok=True)
    if subprocess.call(["apt-get", "source", "--print-uris", "edk2"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL) != 0:
        if os.getuid() != 0:
            raise FirmwareBuildError("edk2 source needed: run as root (adds a deb-src entry), or add one "
                                     "and run: apt-get source edk2")
        suite = "bookworm"
        try:
            with open("/etc/os-release") as f:
                m = re.search(r"^VERSION_CODENAME=(\S+)", f.read(), re.M)
                suite = m.group(1) if m else suite
        except OSError:
            pass
        with open("/etc/apt/sources.list.d/fwnet-deb-src.sources", "w") as f:
            f.write("Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\n"
                    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n" % suite)
        with open(log, "a") as lf:
            subprocess.call(["apt-get", "update", "-qq"], stdout=lf, stderr=lf)
    tmp = tempfile.mkdtemp(prefix="edk2.", dir=DEPS)
    try:
        with open(log, "a") as lf:
            for cmd in (["apt-get", "source", "-qq", "--download-only", "edk2"],
                        ["sh", "-c", "dpkg-source -x --no-check ./edk2_*.dsc edk2"]):
                if subprocess.call(cmd, cwd=tmp, stdout=lf, stderr=lf) != 0:
                    raise FirmwareBuildError("could not fetch Debian's edk2 source package (%s); see %s"
                                             % (" ".join(cmd), log))
        shutil.copy(glob.glob(os.path.join(tmp, "edk2_*.dsc"))[0],
                    os.path.join(tmp, "edk2", "debian", "fwnet-fetched.dsc"))
        if os.path.exists(src):
            shutil.rmtree(src)
        os.rename(os.path.join(tmp, "edk2"), src)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return src


def network_patches(src=SRC):
    """Debian's NetworkPkg patches in series order."""
    with open(os.path.join(src, "debian", "patches", "series")) as f:
        series = [ln.split()[0] for ln in f if ln.strip() and not ln.startswith("#")]
    return [p for p in series if NETWORK_PATCH_RE.match(p)]


def all_patches(src=SRC):
    with open(os.path.join(src, "debian", "patches", "series")) as f:
        return [ln.split()[0] for ln in f if ln.strip() and not ln.startswith("#")]


def patch_state(src=SRC):
    try:
        with open(os.path.join(src, STATE_FILE)) as f:
            return f.read().strip() or "applied"
    except FileNotFoundError:
        return "applied"  # as dpkg-source unpacked it


def _patch(src, name, reverse, log):
    cmd = ["patch", "-p1", "-s", "--no-backup-if-mismatch", "-f"] + (["-R"] if reverse else [])
    cmd += ["-i", os.path.join("debian", "patches", name)]
    with open(log, "a") as lf:
        lf.write("$ %s\n" % " ".join(cmd))
        lf.flush()
        return subprocess.call(cmd, cwd=src, stdout=lf, stderr=lf) == 0


def set_network_patches(src, applied, log):
    """Switch the tree's NetworkPkg security patches on (Debian's state) or off."""
    want = "applied" if applied else "reverted"
    if patch_state(src) == want:
        return []
    patches = network_patches(src)
    seq = patches if applied else list(reversed(patches))
    done = []
    for p in seq:
        if not _patch(src, p, reverse=not applied, log=log):
            for q in reversed(done):  # undo, so the tree stays in its recorded state
                _patch(src, q, reverse=applied, log=log)
            raise FirmwareBuildError("patch %s %s failed in %s; see %s"
                                     % ("-R" if not applied else "", p, src, log))
        done.append(p)
    with open(os.path.join(src, STATE_FILE), "w") as f:
        f.write(want + "\n")
    return done


# ---- building ----

def build_env():
    env = {k: v for k, v in os.environ.items()
           if k not in ("WORKSPACE", "ECP_SOURCE", "EDK_SOURCE", "EFI_SOURCE", "EDK_TOOLS_PATH", "CONF_PATH",
                        "PACKAGES_PATH", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.update(PYTHON3_ENABLE="TRUE", PYTHON_COMMAND=PYTHON, LC_ALL="C")
    return env


def run_logged(shell_cmd, cwd, log):
    """One build step under `nice -n 19` (the machine is shared); True on success."""
    with open(log, "a") as lf:
        lf.write("$ (cd %s && %s)\n" % (cwd, shell_cmd))
        lf.flush()
        return subprocess.call(["nice", "-n", "19", "bash", "-c", shell_cmd], cwd=cwd, env=build_env(),
                               stdout=lf, stderr=subprocess.STDOUT) == 0


def missing_tools():
    return [t for t in ("nasm", "iasl", "gcc", "make", "patch") if shutil.which(t) is None]


def ensure_tools():
    miss = missing_tools()
    if not miss:
        return
    script = os.path.join(bld.ROOT, "ci", "install-deps.sh")
    if subprocess.call([script, "firmware"]) != 0 or missing_tools():
        raise FirmwareBuildError("firmware build tools missing: %s (ci/install-deps.sh firmware installs them)"
                                 % ", ".join(missing_tools()))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def descriptor_name(variant):
    return "fwnet-%s.json" % variant


def entry_name(variant, version):
    return "%s-%s" % (variant, version)


def descriptor(variant, code, vars_, version):
    return {
        "description": "OVMF %s from Debian's edk2 %s, built by fwnet (%s)" % (variant.name, version, variant.doc),
        "interface-types": ["uefi"],
        "mapping": {"device": "flash",
                    "executable": {"filename": code, "format": "raw"},
                    "nvram-template": {"filename": vars_, "format": "raw"}},
        "targets": [{"architecture": "x86_64", "machines": ["pc-q35-*", "pc-i440fx-*"]}],
        "features": ["acpi-s3", "amd-sev", "verbose-dynamic"],
        "tags": ["fwnet", "fwnet-variant=" + variant.name, "edk2-debian=" + version,
                 "build-type=" + variant.build_type],
    }


def cached(variant, cache=CACHE, version=None):
    """The cache entry's identity (with "dir") for a variant, or None. Never builds."""
    name = get_variant(variant).name if isinstance(variant, str) else variant.name
    pattern = entry_name(name, version) if version else entry_name(name, "*")
    for d in sorted(glob.glob(os.path.join(cache, pattern))):
        ident = os.path.join(d, "identity.json")
        if os.path.exists(ident) and os.path.exists(os.path.join(d, "OVMF_CODE_4M.fd")):
            with open(ident) as f:
                data = json.load(f)
            if data.get("variant") == name:
                data["dir"] = d
                return data
    return None


def cached_builds(cache=CACHE):
    """Every complete cache entry's identity (for the matrix: firmware builds, only when cached)."""
    out = []
    for v in VARIANTS:
        c = cached(v, cache)
        if c:
            out.append(c)
    return out


def build_variant(name, *, src=SRC, cache=CACHE, force=False, fetch=True, runner=run_logged, progress=print):
    """Build one variant into the cache; returns its identity dict (with "dir")."""
    variant = get_variant(name)
    if fetch:
        ensure_tools()
        fetch_source(src)
    if not os.path.exists(os.path.join(src, "edksetup.sh")):
        raise FirmwareBuildError("firmware %s: no edk2 source tree in %s" % (name, src))
    version = source_version(src)
    final = os.path.join(cache, entry_name(name, version))
    if not force:
        have = cached(variant, cache, version)
        if have:
            progress("fwnet: firmware %s: cached in %s" % (name, have["dir"]))
            return have
    os.makedirs(cache, exist_ok=True)
    lock = open(os.path.join(src, ".fwnet-build.lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)  # one build in the tree at a time
    for stale in glob.glob(os.path.join(cache, ".tmp-%s-*" % name)):  # a killed build's (lock held)
        shutil.rmtree(stale, ignore_errors=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-%s-" % name, dir=cache)
    log = os.path.join(tmp, "build.log")
    failed_log = os.path.join(cache, "%s-failed.log" % name)
    t0 = time.time()
    try:
        _log(log, "fwnet firmware build %s: edk2 %s in %s, %s" % (name, version, src,
                                                                 datetime.datetime.now().isoformat()))
        stamp = os.path.join(src, ".fwnet-basetools-stamp")
        t_tools = 0.0
        if not os.path.exists(stamp):
            progress("fwnet: firmware: building BaseTools (once)")
            t1 = time.time()
            if not runner("set -e; . ./edksetup.sh; make -C BaseTools ARCH=X64", src, log):
                raise FirmwareBuildError("firmware %s: BaseTools build failed; see %s" % (name, failed_log))
            t_tools = time.time() - t1
            open(stamp, "w").close()
        was = patch_state(src)
        switched = set_network_patches(src, variant.security_patches, log)
        cmd = variant.command()
        progress("fwnet: firmware %s: %s (nice -n 19), log %s" % (name, " ".join(cmd), log))
        t2 = time.time()
        if not runner("set -e; . ./edksetup.sh; " + " ".join(cmd), src, log):
            raise FirmwareBuildError("firmware %s: edk2 build failed; see %s" % (name, failed_log))
        t_build = time.time() - t2
        fv = variant.out_dir(src)
        for f in ("OVMF_CODE.fd", "OVMF_VARS.fd"):
            if not os.path.exists(os.path.join(fv, f)):
                raise FirmwareBuildError("firmware %s: build produced no %s in %s; see %s"
                                         % (name, f, fv, failed_log))
        shutil.copy(os.path.join(fv, "OVMF_CODE.fd"), os.path.join(tmp, "OVMF_CODE_4M.fd"))
        shutil.copy(os.path.join(fv, "OVMF_VARS.fd"), os.path.join(tmp, "OVMF_VARS_4M.fd"))
        nets = network_patches(src)
        reverted = [] if variant.security_patches else list(reversed(nets))
        ident = {
            "variant": name,
            "description": variant.doc,
            "source": "Debian edk2 source package",
            "source_version": version,
            "build_type": variant.build_type,
            "toolchain": TOOLCHAIN,
            "platform": DSC,
            "command": cmd,
            "pcds": variant.pcds,
            "patches_applied": [p for p in all_patches(src) if p not in reverted],
            "patches_reverted": reverted,
            "tree": "one tree (%s), NetworkPkg patches switched with patch -R / patch; state was %s, "
                    "now %s%s" % (src, was, patch_state(src),
                                  " (switched %d patches: incremental build)" % len(switched) if switched else ""),
            "sha256": {"OVMF_CODE_4M.fd": sha256(os.path.join(tmp, "OVMF_CODE_4M.fd")),
                       "OVMF_VARS_4M.fd": sha256(os.path.join(tmp, "OVMF_VARS_4M.fd"))},
            "build_seconds": round(t_build, 1),
            "basetools_seconds": round(t_tools, 1),
            "total_seconds": round(time.time() - t0, 1),
            "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "descriptor": descriptor_name(name),
            "debug_output": ("debugcon: -debugcon file:F -global isa-debugcon.iobase=0x402"
                             if variant.build_type == "DEBUG" else "none (RELEASE)"),
        }
        with open(os.path.join(tmp, "identity.json"), "w") as f:
            json.dump(ident, f, indent=2)
            f.write("\n")
        with open(os.path.join(tmp, descriptor_name(name)), "w") as f:
            json.dump(descriptor(variant, os.path.join(final, "OVMF_CODE_4M.fd"),
                                 os.path.join(final, "OVMF_VARS_4M.fd"), version), f, indent=4)
            f.write("\n")
        os.chmod(tmp, 0o755)
        old = None
        if os.path.exists(final):
            old = final + ".old-%d" % os.getpid()
            os.rename(final, old)
        os.rename(tmp, final)
        if old:
            shutil.rmtree(old, ignore_errors=True)
        if os.path.exists(failed_log):
            os.unlink(failed_log)
        ident["dir"] = final
        progress("fwnet: firmware %s: %s in %.0f s, CODE sha256 %s"
                 % (name, final, ident["total_seconds"], ident["sha256"]["OVMF_CODE_4M.fd"]))
        return ident
    except BaseException:
        if os.path.exists(log):
            shutil.copy(log, failed_log)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


# ---- CLI ----

def cmd_variants(args):
    for name, v in VARIANTS.items():
        c = cached(name)
        print("%-26s %-7s %-9s %s" % (name, v.build_type, "cached" if c else "-", v.doc))
        if c:
            print("%26s %s  sha256 %s" % ("", c["dir"], c["sha256"]["OVMF_CODE_4M.fd"]))
    return 0


def cmd_build(args):
    import sys
    try:
        name = get_variant(args.variant).name
        if args.debug and not name.startswith("debug"):
            name = {"debian": "debug", "no-security-patches": "debug-no-security-patches"}[name]
        names = [name]
        for n in names:
            ident = build_variant(n, force=args.force)
            print(json.dumps({k: ident[k] for k in ("variant", "dir", "sha256", "total_seconds")}, indent=2))
    except FirmwareBuildError as e:
        print("fwnet firmware build: %s" % e, file=sys.stderr)
        return 2
    return 0
