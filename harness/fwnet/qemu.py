"""QEMU: firmware discovery, the boot disk, the accelerator, the command
line (OVMF or a multiboot image, one builder), and a process that never
outlives the harness.

Network safety (shared/design/network-safety.md): the user network always has
restrict=on; the guest reaches only guestfwd targets (relays to 127.0.0.1)
and hostfwd binds 127.0.0.1 only. make_cmdline() is the one place a command
line is built, and check_cmdline() refuses any that breaks these rules.
"""
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FIRMWARE_DIRS = ["/usr/share/qemu/firmware", "/etc/qemu/firmware"]
GUEST_NET = "10.0.2.0/24"
GUEST_ADDR = "10.0.2.15"
PEER_ADDR = "10.0.2.100"  # where guestfwd puts host peers


class QemuError(Exception):
    pass


# ---- firmware ----

def firmware_list(extra_dirs=()):
    """Firmware described by QEMU's JSON descriptors (plus user directories):
    dicts with name, code, vars, arch, features, descriptor (firmware.py)."""
    from . import firmware
    return firmware.descriptors(extra_dirs)


def pick_firmware(name=None, extra_dirs=()):
    """One bootable firmware for --firmware (a name, descriptor, or CODE
    file; firmware.py), with its identity (sha256 of CODE)."""
    from . import firmware
    try:
        fw = firmware.pick(name, extra_dirs)
    except firmware.FirmwareError as e:
        raise QemuError(str(e))
    fw = dict(fw)
    fw["identity"] = firmware.identity(fw)
    return fw


# ---- boot disk ----

# PE machine types -> the removable-media boot file UEFI looks for
PE_BOOT_NAMES = {0x8664: "BOOTX64.EFI", 0x14c: "BOOTIA32.EFI"}


def pe_machine(path):
    """The PE/COFF machine field of an EFI application (0x8664 x86_64,
    0x14c ia32); None when the file is not PE."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if head[:2] != b"MZ" or len(head) < 0x40:
        return None
    off = int.from_bytes(head[0x3c:0x40], "little")
    if head[off:off + 4] != b"PE\0\0":
        return None
    return int.from_bytes(head[off + 4:off + 6], "little")


def boot_name(efi_path):
    """\\EFI\\BOOT\\BOOT<arch>.EFI for the app's own architecture."""
    m = pe_machine(efi_path)
    if m not in PE_BOOT_NAMES:
        raise QemuError("%s: not an x86_64 or ia32 EFI application (PE machine %s)"
                        % (efi_path, "none" if m is None else "0x%x" % m))
    return PE_BOOT_NAMES[m]


def make_disk(efi_path, out_img):
    """A FAT image with the app as \\EFI\\BOOT\\BOOTX64.EFI, or BOOTIA32.EFI
    for an ia32 app (by its PE machine type; mtools, no root)."""
    for tool in ("mformat", "mcopy", "mmd"):
        if not shutil.which(tool):
            raise QemuError("%s not found (Debian package: mtools)" % tool)
    size = max(16, os.path.getsize(efi_path) // (1 << 20) + 8)
    with open(out_img, "wb") as f:
        f.truncate(size << 20)
    for cmd in (["mformat", "-i", out_img, "::"],
                ["mmd", "-i", out_img, "::/EFI", "::/EFI/BOOT"],
                ["mcopy", "-i", out_img, efi_path, "::/EFI/BOOT/" + boot_name(efi_path)]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            raise QemuError("%s failed: %s" % (" ".join(cmd), r.stderr.strip()))


# ---- accelerator ----

def detect_accel(cache_dir, firmware, force=None):
    """KVM when it really runs guests, else TCG. /dev/kvm may exist yet guests
    die with "emulation failure", so KVM is tried once (cached per host)."""
    if force:
        return force, "forced"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg", "no usable /dev/kvm"
    os.makedirs(cache_dir, exist_ok=True)
    cache = os.path.join(cache_dir, "accel")
    if os.path.exists(cache):
        v = open(cache).read().split()
        if v:
            return v[0], "cached probe: " + " ".join(v[1:])
    vars_copy = os.path.join(cache_dir, "probe-vars.fd")
    shutil.copy(firmware["vars"], vars_copy)
    cmd = ["qemu-system-x86_64", "-machine", "q35", "-accel", "kvm", "-m", "128", "-nodefaults",
           "-display", "none", "-no-reboot", "-serial", "none", "-monitor", "none",
           "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + firmware["code"],
           "-drive", "if=pflash,format=raw,unit=1,file=" + vars_copy, "-net", "none"]
    log = os.path.join(cache_dir, "probe.log")
    with open(log, "wb") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            p.wait(timeout=4)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    text = open(log, errors="replace").read()
    # A KVM guest that fails does not make QEMU exit: it pauses and prints.
    if p.returncode not in (None, -9) or kvm_failed(text):
        lines = [l for l in text.splitlines() if kvm_failed(l)] or [l for l in text.splitlines() if l.strip()]
        result, why = "tcg", "KVM unusable: " + (lines[0] if lines else "probe exited %s" % p.returncode)
    else:
        result, why = "kvm", "KVM probe ran 4 s"
    with open(cache, "w") as f:
        f.write("%s %s\n" % (result, why))
    return result, why


def kvm_failed(text):
    return any(m in text for m in ("emulation failure", "KVM internal error", "failed to initialize kvm",
                                   "Could not access KVM"))


def forget_accel(cache_dir, why):
    """A boot showed KVM failing after all: record TCG for this host."""
    os.makedirs(cache_dir, exist_ok=True)
    with open(os.path.join(cache_dir, "accel"), "w") as f:
        f.write("tcg KVM failed during a boot: %s\n" % why)


# ---- command line ----

# fwnet's tap device (tapnet.py) and its addresses
TAP_DEV, TAP_HOST, TAP_GUEST = "fwtap0", "10.0.3.1", "10.0.3.15"


def _netdev(guestfwds, hostfwds, lan_sock, tap, guest_addr=GUEST_ADDR):
    relay = os.path.join(HERE, "relay.py")
    if tap:  # a tap device in fwnet's own network namespace (the caller made both)
        return ["tap", "id=n0", "ifname=" + TAP_DEV, "script=no", "downscript=no"]
    if lan_sock:
        return ["stream", "id=n0", "server=off", "addr.type=unix", "addr.path=" + lan_sock]
    netdev = ["user", "id=n0", "restrict=on", "net=" + GUEST_NET, "dhcpstart=" + GUEST_ADDR]
    for gp, hp in guestfwds:
        netdev.append("guestfwd=tcp:%s:%d-cmd:/usr/bin/python3 %s 127.0.0.1 %d" % (PEER_ADDR, gp, relay, hp))
    for hp, gp in hostfwds:
        netdev.append("hostfwd=tcp:127.0.0.1:%d-%s:%d" % (hp, guest_addr, gp))
    return netdev


def _capture(pcap, snaplen):
    """QEMU's filter-dump of the netdev; snaplen > 0 keeps only the first
    snaplen bytes of each frame (headers, for long bulk runs)."""
    return "filter-dump,id=cap0,netdev=n0,file=" + pcap + (",maxlen=%d" % snaplen if snaplen else "")


# NIC models: OVMF's own VirtioNetDxe ("virtio", no ROM), QEMU's default
# e1000 (its ROM: iPXE's EFI driver), and iPXE's EFI ROMs from Debian's
# ipxe-qemu given explicitly: name -> (QEMU device, ROM file)
IPXE_DIR = "/usr/lib/ipxe/qemu"
IPXE_NICS = {"e1000e": ("e1000e", "efi-e1000e.rom"), "rtl8139": ("rtl8139", "efi-rtl8139.rom"),
             "vmxnet3": ("vmxnet3", "efi-vmxnet3.rom"), "pcnet": ("pcnet", "efi-pcnet.rom"),
             "eepro100": ("i82557b", "efi-eepro100.rom"), "ne2k_pci": ("ne2k_pci", "efi-ne2k_pci.rom"),
             "virtio-ipxe": ("virtio-net-pci", "efi-virtio.rom")}
NICS = ["virtio", "e1000"] + sorted(IPXE_NICS)


def nic_rom(nic):
    """The iPXE ROM a NIC model boots with (QemuError when it is missing)."""
    rom = os.path.join(IPXE_DIR, IPXE_NICS[nic][1])
    if not os.path.exists(rom):
        raise QemuError("NIC %s: no ROM %s (Debian package: ipxe-qemu)" % (nic, rom))
    return rom


class Boot:
    """What a command line boots, and how: the machine's own arguments, the
    boot arguments, the default memory (MiB), and the NIC flavour."""

    def __init__(self, machine, boot, mem, legacy_nic, binary="qemu-system-x86_64"):
        self.machine, self.boot, self.mem, self.legacy_nic = machine, boot, mem, legacy_nic
        self.binary = binary  # qemu-system-i386 for an i386 firmware


def ovmf_boot(firmware, vars_path, disk, disk_format="raw"):
    """OVMF on q35 (code read-only, a copy of the vars template) booting the
    FAT disk from virtio-blk; the QEMU of the firmware's architecture
    (descriptor targets: x86_64, or i386 for OVMF32)."""
    from . import firmware as fwmod
    try:
        machine, fwargs = fwmod.qemu_args(firmware, vars_path)
    except fwmod.FirmwareError as e:
        raise QemuError(str(e))
    return Boot(machine,
                fwargs +
                ["-drive", "if=none,id=disk0,format=%s,file=%s" % (disk_format, disk),
                 "-device", "virtio-blk-pci,drive=disk0,bootindex=0"], 256, False,
                fwmod.ARCHES.get(firmware.get("arch"), "qemu-system-x86_64"))


def kernel_boot(kernel, append):
    """A multiboot image booted with -kernel (fwnet-rump.elf, or any image a
    user gives): the pc machine and its 8259s, legacy virtio (the image's
    driver speaks the transitional interface), -cpu max for RDRAND."""
    if not os.path.exists(kernel):
        raise QemuError("multiboot image not found: %s" % kernel)
    check_multiboot(kernel)
    return Boot(["-machine", "pc", "-cpu", "max"], ["-kernel", kernel, "-append", append], 32, True)


def make_cmdline(boot, accel, nic, guestfwds, hostfwds, pcap, serial_sock, mem=None, lan_sock=None, tap=False,
                 mac="52:54:00:12:34:56", guest_addr=GUEST_ADDR, snaplen=0, qmp_sock=None):
    """The one QEMU command line builder. boot: ovmf_boot() or kernel_boot().
    guestfwds: [(guest_port, host_port)] relayed to 127.0.0.1:host_port;
    hostfwds: [(host_port, guest_port)] on 127.0.0.1. With lan_sock the
    guest joins fwnet-netsim's LAN (which does the forwarding) instead; with
    tap, fwnet's tap device in its own namespace. qmp_sock: a QMP monitor on
    that unix socket (savevm/loadvm). Checked by check_cmdline()."""
    netdev = _netdev(guestfwds, hostfwds, lan_sock, tap, guest_addr)
    if nic == "virtio":
        # OVMF's own VirtioNetDxe; an image's driver: the transitional (legacy) interface
        nicdev = "virtio-net-pci,netdev=n0,romfile=," + ("disable-modern=on," if boot.legacy_nic else "") + "mac=" + mac
    elif nic == "e1000":
        nicdev = "e1000,netdev=n0," + ("romfile=," if boot.legacy_nic else "") + "mac=" + mac  # OVMF: iPXE's EFI ROM
    elif nic in IPXE_NICS:
        nicdev = "%s,netdev=n0,romfile=%s,mac=%s" % (IPXE_NICS[nic][0], nic_rom(nic), mac)
    else:
        raise QemuError("nic must be one of %s, not %r" % (", ".join(NICS), nic))
    # debug-threads: the vCPU thread is named "CPU 0/TCG", so the bench can pin it
    cmd = ([getattr(boot, "binary", "qemu-system-x86_64"), "-name", "fwnet,debug-threads=on"] + boot.machine +
           ["-accel", accel, "-m", str(mem or boot.mem), "-smp", "1",
            "-nodefaults", "-display", "none", "-vga", "none", "-no-reboot", "-monitor", "none"] + boot.boot +
           ["-netdev", ",".join(netdev), "-device", nicdev,
            "-object", _capture(pcap, snaplen),
            "-chardev", "socket,id=ser0,path=%s,server=on,wait=on" % serial_sock,
            "-serial", "chardev:ser0"] +
           (["-qmp", "unix:%s,server=on,wait=off" % qmp_sock] if qmp_sock else []))
    check_cmdline(cmd)
    return cmd


def check_multiboot(path):
    """QEMU's -kernel takes a multiboot v1 image: a header (magic, flags,
    checksum) 4-byte aligned in the first 8 KiB. Anything else QEMU would
    try to run as something else, so refuse it here, by name."""
    with open(path, "rb") as f:
        data = f.read(8192)
    for i in range(0, len(data) - 11, 4):
        magic, flags, cksum = (int.from_bytes(data[i + k:i + k + 4], "little") for k in (0, 4, 8))
        if magic == 0x1BADB002 and (magic + flags + cksum) & 0xffffffff == 0:
            return flags
    raise QemuError("%s is not a multiboot image (no multiboot v1 header in its first 8 KiB)" % path)


def check_cmdline(cmd):
    """Refuse any QEMU command line that could reach beyond this machine."""
    for i, a in enumerate(cmd):
        if a in ("-netdev", "-nic", "-net") and i + 1 < len(cmd):
            v = cmd[i + 1]
            if v.startswith("user") and "restrict=on" not in v.split(","):
                raise QemuError("refusing a user network without restrict=on: %s" % v)
            if v.startswith("stream") and "addr.type=unix" not in v.split(","):
                raise QemuError("a stream netdev must be a unix socket (fwnet-netsim's LAN): %s" % v)
            if v.startswith("tap") and os.environ.get("FWNET_IN_NETNS") == "1" and \
                    "ifname=%s" % TAP_DEV in v.split(","):
                continue  # fwnet's own tap, in the namespace it created
            if v.startswith(("tap", "bridge", "socket", "vde")):
                raise QemuError("refusing network backend %s outside a harness namespace" % v.split(",")[0])
            for m in re.finditer(r"hostfwd=tcp:([^:]*):", v):
                if m.group(1) != "127.0.0.1":
                    raise QemuError("hostfwd must bind 127.0.0.1, not %r" % m.group(1))
            for m in re.finditer(r"guestfwd=tcp:[^-]*-cmd:\S+ \S+ (\S+) ", v):
                if m.group(1) != "127.0.0.1":
                    raise QemuError("guestfwd must relay to 127.0.0.1, not %r" % m.group(1))


class Qemu:
    """A running QEMU in its own process group, killed with everything it
    forked (relays) on stop(), errors, and interpreter exit."""
    live = []

    def __init__(self, cmd, run_dir, name="qemu"):
        self.cmd, self.run_dir = cmd, run_dir
        self.log_path = os.path.join(run_dir, name + ".log")
        with open(os.path.join(run_dir, name + ".cmdline"), "w") as f:
            f.write(" ".join(cmd) + "\n")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        Qemu.live.append(self)
        self.started = time.monotonic()

    def alive(self):
        return self.proc.poll() is None

    def exit_reason(self):
        try:
            tail = open(self.log_path).read().strip().splitlines()[-3:]
        except OSError:
            tail = []
        return "%s exited with status %s%s" % (os.path.basename(self.cmd[0]), self.proc.returncode,
                                               (": " + " | ".join(tail)) if tail else "")

    def stop(self, grace=3.0):
        if self.alive():
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=2)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # relays forked by slirp too
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.log.close()
        if self in Qemu.live:
            Qemu.live.remove(self)

    @classmethod
    def stop_all(cls):
        kill_all()
        for q in list(cls.live):
            q.stop(grace=0)


def kill_all(grace=0.6):
    """Every live process group (QEMUs, netsim, dnsmasq, image peers) at
    once: SIGTERM to all, SIGKILL to what is left after grace seconds, all
    reaped. Safe from a signal handler's thread while other threads run."""
    procs = [q.proc for q in list(Qemu.live)]
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
    end = time.monotonic() + grace
    while time.monotonic() < end and any(p.poll() is None for p in procs):
        time.sleep(0.02)
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)  # whatever it forked (relays) too
        except (ProcessLookupError, PermissionError):
            pass
    for p in procs:
        try:
            p.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass


# ---- snapshots (savevm/loadvm) ----

def qcow2_overlay(backing, out, backing_format="raw"):
    """A qcow2 image over backing (which stays unwritten): what savevm needs
    of every writable drive."""
    if os.path.exists(out):
        os.unlink(out)
    r = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", os.path.abspath(backing),
                        "-F", backing_format, out], capture_output=True, text=True)
    if r.returncode:
        raise QemuError("qemu-img create %s: %s" % (out, (r.stderr or r.stdout).strip()))


class Qmp:
    """QEMU's QMP monitor on a unix socket: human-monitor-command for
    savevm/loadvm, whose errors come back as text."""

    def __init__(self, path, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                break
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise QemuError("QMP socket %s did not open" % path)
                time.sleep(0.05)
        self.sock, self.buf = s, b""
        self._msg(timeout)  # greeting
        self.cmd("qmp_capabilities")

    def _msg(self, timeout):
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise QemuError("QMP closed")
            self.buf += d
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def cmd(self, name, timeout=60, **args):
        self.sock.sendall(json.dumps({"execute": name, "arguments": args} if args else {"execute": name}).encode() + b"\n")
        end = time.monotonic() + timeout
        while True:
            try:
                m = self._msg(max(0.1, end - time.monotonic()))
            except socket.timeout:
                raise QemuError("QMP %s: no answer within %d s" % (name, timeout))
            if "error" in m:
                raise QemuError("QMP %s: %s" % (name, m["error"].get("desc")))
            if "return" in m:
                return m["return"]

    def hmp(self, line, timeout=60):
        """An HMP command; QemuError when it prints an error."""
        out = self.cmd("human-monitor-command", timeout, **{"command-line": line})
        if isinstance(out, str) and out.strip():  # savevm/loadvm print nothing when they work
            raise QemuError("%s: %s" % (line, out.strip()))
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def connect_serial(path, qemu, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not qemu.alive():
            raise QemuError(qemu.exit_reason())
        if os.path.exists(path):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                return s
            except OSError:
                s.close()
        time.sleep(0.05)
    raise QemuError("QEMU's serial socket %s did not appear within %d s" % (path, timeout))
