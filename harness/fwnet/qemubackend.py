"""Backends whose agent runs in QEMU guests, composed of the guests
(guest.py), their network (guestnet.py: slirp; netsimproc.py: fwnet-netsim;
lannet.py: fwnet-netsim with a real stack behind it; tapnet.py: a tap device) and the peers forwarded to them (peerset.py):

  ovmf   the agent as an EFI application on OVMF in QEMU, peers on loopback
         reached through slirp's guestfwd (restrict=on)
  rump   the agent in the bare-metal rump-hw image (lwIP) booted with
         -kernel, peers as for ovmf; or any multiboot image (--image)

What boots is a subclass's prepare() and boot(); everything else is shared.
"""
import os
import shutil
import time
import zlib

from . import build, qemu, rump
from .backend import Backend, BackendError, parse_reply
from .guest import Guests
from .guestnet import SlirpNet
from . import lannet
from .lannet import LanNet
from .netsimproc import NetsimNet
from .peerset import Forwards
from .tapnet import TapNet

NETS = {"slirp": SlirpNet, "netsim": NetsimNet, "tap": TapNet, "lan": LanNet}
CACHE = os.path.join(build.ROOT, "build", "cache")


class QemuBackend(Backend):
    """The agent in QEMU guests: boot() says what guest k boots."""

    def __init__(self, opts):
        super().__init__(opts)
        self.net = getattr(opts, "net", "slirp")
        if self.net == "auto":  # callers that did not resolve it (cli.cmd_run does): the same choice
            opts.net, opts.net_why = lannet.choose("auto", getattr(opts, "isolation", None))
            self.net = opts.net
        self.network = NETS.get(self.net, SlirpNet)(opts, self.extra)
        self.supports = self.network.supports(self.supports)
        self.guests = Guests()
        self.forwards = Forwards()
        self.wedged = False
        # Snapshots (ovmf): every scenario starts from the machine saved once
        # per boot, agent idle in its loop (savevm/loadvm over QMP). want:
        # asked for and possible in principle; active: taken at this boot.
        self.snap_want = self.snapshot_capable and getattr(opts, "snapshot", True)
        self.snap_why = None if self.snap_want else (
            "--no-snapshot" if self.snapshot_capable else "%s backend has no snapshot support" % self.name)
        self.snap_active, self.snap_dirty, self.restore_s = False, False, None
        self.nonce = 0
        self.net_snaps = {}  # --snapshot-at net: tag -> the agent's facts there
        # --jobs N: one shard boots, the others start from its snapshot
        # (snapshare.py; runner.run sets it); resume_from: what this boot uses
        self.snap_share, self.shard, self.resume_from = None, None, None
        self.leading = None  # the share this boot leads, until it publishes (OvmfBackend)
        self.others_used = False  # guests 2.. used since their last restore (_restore)

    snapshot_capable = False

    @property
    def q(self):
        """Guest 1's QEMU."""
        return self.guests.q

    def unsupported(self, sc):
        why = self.network.precondition()
        if why:
            return [why]
        return super().unsupported(sc) + self.network.lacks(sc)

    def prepare(self):
        """What boots, and the accelerator (self.accel, self.accel_why)."""
        raise NotImplementedError

    def boot(self, k, guest_dir):
        """Guest k+1's qemu.Boot."""
        raise NotImplementedError

    def _cmdline(self, k, gd, sock):
        if os.path.exists(os.path.join(gd, "qmp.sock")):  # a killed QEMU's
            os.unlink(os.path.join(gd, "qmp.sock"))
        try:
            cmd = qemu.make_cmdline(self.boot(k, gd), self.accel, self.opts.nic, self.forwards.guestfwds,
                                    self.forwards.hostfwds, os.path.join(gd, "capture.pcap"), sock,
                                    mac="52:54:00:12:34:%02x" % (0x56 + k),
                                    snaplen=getattr(self.opts, "snaplen", 0),
                                    qmp_sock=os.path.join(gd, "qmp.sock") if self.snap_want else None,
                                    **self.network.qemu_opts())
        except qemu.QemuError as e:
            raise BackendError(str(e))
        if self.resume_from:  # another shard's snapshot, in this guest's images now (snapshare.py)
            cmd += ["-loadvm", self.resume_from.tag]
        return cmd

    def start(self, scenarios, run_dir):
        self.run_dir = run_dir
        self.prepare()
        try:
            self.network.up(run_dir)
        except qemu.QemuError as e:
            raise BackendError(str(e))
        # Every peer of every scenario gets its guest port now: slirp's
        # forwards are fixed when QEMU starts.
        self.forwards.start(scenarios, run_dir, self.opts, self, self.network.peer_bind)
        self.nguests = max([getattr(sc, "guests", 1) for sc in scenarios] + [1])
        try:
            self._boot()
        except BackendError:
            if self.accel != "kvm" or self.q is None or \
                    not qemu.kvm_failed(open(self.q.log_path, errors="replace").read()):
                raise
            # KVM was there but could not run the guest: fall back to TCG.
            self.guests.kill()
            qemu.forget_accel(CACHE, "emulation failure")
            self.accel, self.accel_why = "tcg", "KVM failed at boot (emulation failure): TCG"
            self._boot()

    def _boot(self):
        self.network.lan_up(self.run_dir, self.forwards.guestfwds, self.forwards.hostfwds)
        self._start_guests()

    def _start_guests(self):
        self.snap_active, self.snap_dirty, self.net_snaps = False, False, {}
        share, self.snap_share = self.snap_share, None  # the first boot only: a restart boots itself
        self.resume_from = None
        if share is not None and self.snap_want and not share.claim(self.shard):
            self.resume_from = share.wait()
            if self.resume_from is None:
                self.extra["snapshot_share"] = {"used": False, "why": share.why}
        elif share is not None:
            self.leading = share
        if self.resume_from:
            self.nonce += 1
            self.extra["boot_s"] = self.guests.boot(self.nguests, self.run_dir, self._cmdline, self.accel,
                                                    getattr(self.opts, "boot_timeout", 90), qmp_monitor=True,
                                                    resume=(self.resume_from.tag, self.nonce))
            self.facts = dict(self.resume_from.facts)
            self.snap_active = True
            self.extra["snapshot"] = {"on": True, "savevm_s": [], "loadvm_s": [],
                                      "from": self.resume_from.origin}
            return
        self.extra["boot_s"] = self.guests.boot(self.nguests, self.run_dir, self._cmdline, self.accel,
                                                getattr(self.opts, "boot_timeout", 90), qmp_monitor=self.snap_want)
        self.facts = parse_reply(self._ask("hello nonce=0", 30))
        if self.snap_want and self.facts.get("nonce") != "0":
            self._no_snapshot("the agent does not echo hello nonce= (an older agent)")
        self.facts.pop("nonce", None)

    def _no_snapshot(self, why):
        self.snap_want, self.snap_why = False, why
        self.extra["snapshot"] = {"on": False, "why": why}

    def take_snapshot(self):
        """savevm once per boot, the agent idle before the first scenario's
        open; off (with the reason in extra.snapshot) when it fails."""
        if not self.snap_want:
            self.extra.setdefault("snapshot", {"on": False, "why": self.snap_why})
            return
        try:
            t = self.guests.savevm("ready")
        except BackendError as e:
            self._no_snapshot(str(e))
            return
        self.snap_active = True
        snap = self.extra.setdefault("snapshot", {"on": True, "savevm_s": [], "loadvm_s": []})
        snap["on"] = True
        snap["savevm_s"].append(round(t, 3))

    def restorable(self):
        """Whether the next scenario can start from the snapshot instead of
        a fresh boot (after an error or a listed hang): the QEMUs still run."""
        return self.snap_active and all(g.q.alive() for g in self.guests.list)

    def abandon(self, sc):
        """A scenario that ended in an error or a hang, when the guest is
        restored rather than rebooted: its network and peers' per-scenario
        state ends as end() would have ended it."""
        self.wedged = False
        for f in (lambda: self.network.end(sc), lambda: self.network.peers_done(sc, self.forwards)):
            try:
                f()
            except Exception:  # the next scenario still starts from the snapshot
                pass

    def _ask(self, line, timeout, guest=1):
        return self.guests.ask(line, timeout, guest)

    def execute(self, line, timeout=30, guest=1):
        return parse_reply(self._ask(line, timeout, guest))

    def netsim_ctl(self, line):
        """One control command to fwnet-netsim; its reply line."""
        return self.network.ctl(line)

    def netsim_later(self, delay_s, line):
        """A control command in the background, while a step runs."""
        self.network.later(delay_s, line)

    def _phase(self, name, t0):
        """results.json timing.phases[name]: seconds since t0; returns now."""
        now = time.monotonic()
        getattr(self, "step_times", {}).setdefault("phases", {})[name] = round(now - t0, 3)
        return now

    def _restore(self, tag, sc):
        """The machine back to snapshot tag for scenario sc. Guest 1 always;
        the others when sc uses them or the last scenario did: a guest no
        scenario has used since its restore has only idled on the LAN, and
        every scenario that uses it gets it as the snapshot has it."""
        self.nonce += 1
        uses = getattr(sc, "guests", 1) > 1
        n = None if (uses or self.others_used) else 1
        self.restore_s = self.guests.loadvm(tag, self.nonce, n)
        self.others_used = False
        self.extra["snapshot"]["loadvm_s"].append(round(self.restore_s, 3))

    def begin(self, sc):
        self.sc = sc
        self.restore_s = None
        mode = sc.net.get("mode", "static")
        # --snapshot-at net: a single-guest scenario with a static address
        # starts from a snapshot taken after `open` and `net` (one per open
        # line), both done before the scenario's network state is set up
        key = None
        if self.snap_active and getattr(self.opts, "snapshot_at", "boot") == "net" and mode == "static" \
                and getattr(sc, "guests", 1) == 1:
            key = "net-%08x" % (zlib.crc32((self.open_line(sc) + "|" + self.network.static_config()).encode()))
        if key and key in self.net_snaps:
            self._restore(key, sc)
            self.facts = dict(self.net_snaps[key])
            self.snap_dirty = True
            self.network.begin(sc)
        else:
            t = time.monotonic()
            if self.snap_active and self.snap_dirty:
                self._restore("ready", sc)
            t = self._phase("restore", t)
            self.snap_dirty = True
            if not key:
                self.network.begin(sc)
            r = self.execute(self.open_line(sc), 60)
            if r.get("ret") != 0:
                raise BackendError("open failed: %s" % r)
            t = self._phase("open", t)
            if mode != "none":  # "none": the scenario configures (or fails to) itself
                r = self.execute("net " + (self.network.static_config() if mode == "static"
                                           else "mode=dhcp timeout_ms=20000"), 60)
                if r.get("ret") != 0:
                    raise BackendError("net failed: %s" % r)
            t = self._phase("net", t)
            self.facts = self.execute("hello", 30)
            self._phase("hello", t)
            if key:
                t = self.guests.savevm(key)
                self.extra["snapshot"]["savevm_s"].append(round(t, 3))
                self.net_snaps[key] = dict(self.facts)
                self.network.begin(sc)
        if getattr(sc, "guests", 1) > 1:
            self.others_used = True  # the next restore takes them back too
        for k in range(2, getattr(sc, "guests", 1) + 1):  # the other guests on the LAN
            r = self.execute("open quirks=%s" % self.quirks(sc), 60, guest=k)
            if r.get("ret") != 0:
                raise BackendError("guest %d: open failed: %s" % (k, r))
            r = self.execute("net mode=static addr=10.0.2.%d mask=255.255.255.0 gw=10.0.2.2" % (14 + k), 60, guest=k)
            if r.get("ret") != 0:
                raise BackendError("guest %d: net failed: %s" % (k, r))
        return {n: self.network.peer_addr(sc, n, *self.forwards.peer(sc, n)) for n in sc.peers}

    def peer_action(self, sc, name, action):
        hp, fwd = self.forwards.peer(sc, name)
        self.network.peer_action(sc, name, hp, action, fwd)

    def end(self, sc, fds):
        # sockets on other guests are closed there (names carry their guest)
        for name, fd in list(fds.items()):
            g = getattr(sc, "socket_guest", {}).get(name, 1)
            if g != 1:
                self.execute("close fd=%d" % fd, 30, guest=g)
                del fds[name]
        self.network.settle(sc)
        super().end(sc, fds)
        self.network.end(sc)
        self.network.peers_done(sc, self.forwards)

    def stop(self):
        try:
            self.guests.close(self.wedged)
        finally:
            self.network.lan_down()
            self.forwards.stop()
            self.network.down()


class OvmfBackend(QemuBackend):
    """The agent's EFI application on OVMF (q35), from a FAT disk, with a
    fresh copy of the vars template at every boot."""
    name = "ovmf"
    snapshot_capable = True
    supports = {"peer:echo", "peer:discard", "peer:source", "peer:reset", "peer:refuse",
                "peer:connect", "peer:http", "peer:stall", "quirks", "firmware", "peer:rump-http",
                "peer:rump-source", "peer:rump-discard", "peer:rump-echo"}

    def prepare(self):
        self.fw = qemu.pick_firmware(self.opts.firmware, getattr(self.opts, "firmware_dir", None) or ())
        self.fw["fw_cfg"] = list(getattr(self.opts, "fw_cfg", None) or [])  # fwnet matrix's toggles
        self.extra["firmware"] = self.fw["identity"]
        self.accel, self.accel_why = qemu.detect_accel(CACHE, self.fw, self.opts.accel)
        try:
            self.efi = build.efi_app(build.agent_app(self.fw.get("arch")))  # ia32 on OVMF32
        except build.BuildError as e:
            raise BackendError(str(e))

    def _start_guests(self):
        self.leading = None
        try:
            super()._start_guests()
        except BaseException:
            if self.leading:
                self.leading.give_up("the first shard did not boot")
            raise
        from . import expectations  # listed deviations per build match this identity
        if self.resume_from:  # the leader's firmware, asked before its snapshot
            self.extra["fwinfo"] = dict(self.resume_from.extra.get("fwinfo", {}))
            expectations.set_identity(expectations.cell_identity({"extra": self.extra}))
            return
        try:  # the firmware's own identity, once per boot (agent/PROTOCOL.md fwinfo)
            self.extra["fwinfo"] = parse_reply(self._ask("fwinfo", 30))
        except BackendError as e:
            self.extra["fwinfo"] = {"status": "err", "msg": str(e)}
        expectations.set_identity(expectations.cell_identity({"extra": self.extra}))
        self.take_snapshot()
        if self.leading:
            if self.snap_active:
                self.leading.publish("ready", [g.dir for g in self.guests.list], self.facts,
                                     {"fwinfo": self.extra.get("fwinfo", {})},
                                     lambda: self.guests.hmp_all("stop"), lambda: self.guests.hmp_all("cont"))
            else:
                self.leading.give_up("the first shard has no snapshot: %s" % self.snap_why)
            self.leading = None

    def boot(self, k, gd):
        disk = os.path.join(gd, "disk.img")
        qemu.make_disk(self.efi, disk)
        fw = self.fw
        if self.snap_want:
            # savevm needs every writable drive in qcow2: the vars and the
            # disk as overlays (a fresh NVRAM each boot still: the template
            # is only their backing file); the CODE pflash is read-only raw
            try:
                fw = dict(self.fw)
                vars_path = os.path.join(gd, "vars.qcow2")
                if self.fw.get("mapping", "flash") == "flash":
                    qemu.qcow2_overlay(self.fw["vars"], vars_path, self.fw.get("vars_format", "raw"))
                    fw["vars_format"] = "qcow2"
                qemu.qcow2_overlay(disk, os.path.join(gd, "disk.qcow2"), "raw")
                if self.resume_from:  # the leader's images, snapshot inside; its disk.img stays their backing
                    from .snapshare import copy_sparse
                    for name, src in self.resume_from.images[k].items():
                        copy_sparse(src, os.path.join(gd, name))
                return qemu.ovmf_boot(fw, vars_path, os.path.join(gd, "disk.qcow2"), "qcow2")
            except qemu.QemuError as e:
                self._no_snapshot(str(e))
        vars_path = os.path.join(gd, "vars.fd")
        shutil.copy(self.fw["vars"], vars_path)  # fresh NVRAM each boot
        return qemu.ovmf_boot(fw, vars_path, disk)


class RumpBackend(QemuBackend):
    """The agent in the rump-hw image (lwIP sockets), booted with -kernel; or
    any multiboot image that speaks the agent protocol on COM1 (--image,
    --append). Networks and peers as for ovmf."""
    name = "rump"
    supports = {"peer:echo", "peer:discard", "peer:source", "peer:reset", "peer:refuse",
                "peer:connect", "peer:http", "peer:stall", "peer:rump-http", "peer:rump-source",
                "peer:rump-discard", "peer:rump-echo"}

    def __init__(self, opts):
        super().__init__(opts)
        self.ran = 0

    def unsupported(self, sc):
        missing = super().unsupported(sc)
        if getattr(sc, "guests", 1) > 1:
            missing.append("one guest (several image guests on a LAN are not wired)")
        return missing

    def begin(self, sc):
        # lwIP keeps state across scenarios that Linux does not (a DNS
        # cache): a scenario that resolves names gets a fresh machine,
        # which boots in well under a second.
        if self.ran and any(st.op == "resolve" for st in sc.steps):
            self.guests.close()
            self._start_guests()
            self.extra["fresh_boots"] = self.extra.get("fresh_boots", 0) + 1
        self.ran += 1
        return super().begin(sc)

    def prepare(self):
        self.accel, self.accel_why = rump.accel_for(self.opts)
        try:
            self.image, self.append = rump.image_and_append(self.opts, "agent")
        except (build.BuildError, qemu.QemuError) as e:
            raise BackendError(str(e))
        if self.net == "tap" and not getattr(self.opts, "append", None):
            self.append = "net=static ip=%s/24 gw=%s dns=%s svc=agent" % self.network.addrs
        self.extra["image"] = self.image
        self.extra["append"] = self.append

    def boot(self, k, gd):
        return qemu.kernel_boot(self.image, self.append)
