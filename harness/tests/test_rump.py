"""The bare-metal rump-hw image under QEMU: core conformance scenarios on
lwIP (virtio-net and e1000), the image as a peer of an EFI client, external
images (--image/--append), and clear errors for images that fail."""
import json
import os
import shutil

import pytest
from conftest import ROOT, fwnet, qemu_processes
from fwnet import qemu

IMAGE = os.path.join(ROOT, "build", "release", "rump-hw", "fwnet-rump.elf")
pytestmark = pytest.mark.skipif(not shutil.which("qemu-system-x86_64"), reason="QEMU is not installed")


def run_json(out):
    return json.load(open(os.path.join(out, "results.json")))["backends"]


def test_image_is_built_as_multiboot(built):
    data = open(IMAGE, "rb").read(8192)
    i = data.find(b"\x02\xb0\xad\x1b")  # multiboot v1 magic, within the first 8 KiB
    assert i >= 0 and i % 4 == 0
    flags = int.from_bytes(data[i + 4:i + 8], "little")
    assert flags & (1 << 16)  # load addresses given: QEMU loads the ELF64 as a flat image
    assert (int.from_bytes(data[i:i + 4], "little") + flags + int.from_bytes(data[i + 8:i + 12], "little")) & 0xffffffff == 0


def test_core_scenarios_on_the_image(built, tmp_path):
    out = str(tmp_path / "run")
    r = fwnet("run", "core", "tcp", "http", "--backend", "rump", "--no-build", "--out", out, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    b = run_json(out)[0]
    assert b["backend"] == "rump" and b["accel"] in ("kvm", "tcg")
    assert b["facts"]["vendor"] == "lwIP" and b["facts"]["rev"] == "2.1.3"
    assert b["facts"]["nic"] == "virtio-net"
    ran = [c for c in b["scenarios"] if c["verdict"] != "skip"]
    assert len(ran) >= 25 and all(c["verdict"] == "pass" for c in ran), ran
    # lwIP's documented differences were used, and only listed ones
    assert any(c.get("deviations") for c in ran)
    pcap = os.path.join(out, "rump", "capture.pcap")
    assert os.path.getsize(pcap) > 10000
    assert "fwnet-rump: listening" in open(os.path.join(out, "rump", "serial.log"), errors="replace").read()
    assert not qemu_processes(out)


def test_e1000_driver(built, tmp_path):
    out = str(tmp_path / "run")
    r = fwnet("run", "tcp-echo-1m", "tcp-recv-1m", "tcp-send-1m", "net-dhcp", "--backend", "rump",
              "--nic", "e1000", "--no-build", "--out", out, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:]
    b = run_json(out)[0]
    assert b["facts"]["nic"] == "e1000" and b["nic"] == "e1000"
    assert all(c["verdict"] == "pass" for c in b["scenarios"]), b["scenarios"]


@pytest.mark.skipif(not os.path.exists("/usr/share/OVMF/OVMF_CODE_4M.fd"), reason="no OVMF")
def test_efi_client_fetches_from_the_image(built, tmp_path):
    out = str(tmp_path / "run")
    r = fwnet("run", "rump-http-peer", "--backend", "ovmf", "--no-build", "--out", out, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:]
    b = run_json(out)[0]
    assert [c["verdict"] for c in b["scenarios"]] == ["pass"]
    peers = b["extra"]["image_peers"]
    assert peers[0]["peer"] == "web" and peers[0]["ready_s"] > 0
    assert os.path.exists(os.path.join(out, "ovmf", "peer-web", "serial.log"))
    assert not qemu_processes(out)


def test_external_image_with_its_own_command_line(built, tmp_path):
    img = tmp_path / "other.elf"
    shutil.copy(IMAGE, img)
    out = str(tmp_path / "run")
    r = fwnet("run", "tcp-echo-1", "--backend", "rump", "--image", str(img), "--append",
              "net=static ip=10.0.2.15/24 gw=10.0.2.2 svc=agent", "--no-build", "--out", out, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:]
    b = run_json(out)[0]
    assert b["image"] == str(img)
    assert "svc=agent" in open(os.path.join(out, "rump", "qemu.cmdline")).read()
    assert "services=0 svc=agent" in open(os.path.join(out, "rump", "serial.log"), errors="replace").read()


def test_image_that_panics_is_a_clear_error(built, tmp_path):
    out = str(tmp_path / "run")
    r = fwnet("run", "tcp-echo-1", "--backend", "rump", "--append", "net=static", "--no-build",
              "--out", out, "--boot-timeout", "20", timeout=300)
    assert r.returncode == 1
    assert "qemu-system-x86_64 exited" in r.stdout or "guest stopped" in r.stdout, r.stdout[-2000:]
    serial = open(os.path.join(out, "rump", "serial.log"), errors="replace").read()
    assert "panic: command line: net=static needs ip=" in serial
    assert not qemu_processes(out)


def test_not_an_image_is_a_clear_error(built, tmp_path):
    bad = tmp_path / "bad.elf"
    bad.write_bytes(b"\0" * 65536)
    out = str(tmp_path / "run")
    r = fwnet("run", "tcp-echo-1", "--backend", "rump", "--image", str(bad), "--no-build",
              "--out", out, "--boot-timeout", "20", timeout=300)
    assert r.returncode == 1
    assert "%s is not a multiboot image" % bad in r.stdout, r.stdout[-2000:]
    assert not qemu_processes(out)


def test_kernel_cmdline_is_restricted(built, tmp_path):
    cmd = qemu.make_cmdline(qemu.kernel_boot(IMAGE, "net=dhcp"), "tcg", "virtio",
                            [(7, 40000)], [(41000, 80)], "c.pcap", "s.sock")
    nd = cmd[cmd.index("-netdev") + 1].split(",")
    assert nd[0] == "user" and "restrict=on" in nd
    assert "hostfwd=tcp:127.0.0.1:41000-10.0.2.15:80" in nd
    assert cmd[cmd.index("-append") + 1] == "net=dhcp" and "-kernel" in cmd
    with pytest.raises(qemu.QemuError):
        qemu.make_cmdline(qemu.kernel_boot(str(tmp_path / "missing.elf"), ""), "tcg", "virtio", [], [], "c.pcap",
                          "s.sock")


def test_bench_rump_prints_figures_beside_linux(built, tmp_path):
    out = str(tmp_path / "b")
    r = fwnet("bench-rump", "--no-build", "--size", "2", "--requests", "20", "--repeat", "1", "--out", out,
              timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "QEMU start to 'listening'" in r.stdout and "linux ref" in r.stdout
    res = json.load(open(os.path.join(out, "rumpbench.json")))
    assert res["accel"] in ("kvm", "tcg")
    for who in ("image", "linux"):
        f = res["figures"][who]
        assert all(f[k] > 0 for k in ("http_seq_rps", "http_c16_rps", "tcp_in_MBps", "tcp_out_MBps")), f
    assert 1 <= res["min_mem_mib"] <= 32
    assert res["listening_s_median"] > 0 and res["load_kib"] > 0 and res["bss_kib"] > 0
    assert not qemu_processes(out)


def test_capture_keeps_headers_only_when_asked(built, tmp_path):
    """--snaplen (bench, bench-rump): QEMU's filter-dump keeps the first
    snaplen bytes of each frame and the frame's real length."""
    import struct
    from fwnet import rump, rumpbench
    d = str(tmp_path / "img")
    q, con, addrs, _, _ = rumpbench._boot(IMAGE, rump.RUMP_STATIC + " svc=http", "tcg", "virtio", 32, d,
                                          snaplen=64)
    try:
        assert rumpbench._http_get(addrs["http"], "/20000") > 20000
    finally:
        con.close()
        q.stop(grace=0)
    data = open(os.path.join(d, "capture.pcap"), "rb").read()
    assert struct.unpack("<I", data[:4])[0] == 0xa1b2c3d4 and struct.unpack("<I", data[16:20])[0] == 64
    recs, off = [], 24
    while off + 16 <= len(data):
        incl, orig = struct.unpack("<II", data[off + 8:off + 16])
        recs.append((incl, orig))
        off += 16 + incl
    assert recs and all(incl <= 64 for incl, _ in recs)
    assert any(orig > 1000 for _, orig in recs)  # full-sized frames, cut
    assert "maxlen=64" in open(os.path.join(d, "qemu.cmdline")).read()
    assert not qemu_processes(str(tmp_path))


def test_image_peer_has_a_nic_the_image_drives(tmp_path):
    """An image peer on a matrix cell whose NIC under test is, say, pcnet
    still gets a NIC its image drives (virtio): the cell's NIC is the
    firmware's, and the image panics on any other ('no supported NIC')."""
    import argparse
    import struct
    from fwnet import rump
    from fwnet.scenario import Peer
    for nic in ("pcnet", "virtio-ipxe", "e1000e", "virtio"):
        opts = argparse.Namespace(nic=nic, image=str(tmp_path / "img.elf"), append=None, snaplen=0)
        mb = struct.pack("<III", 0x1BADB002, 0, (-0x1BADB002) & 0xffffffff)  # a multiboot v1 header
        (tmp_path / "img.elf").write_bytes(mb + b"\0" * 52)
        p = rump.RumpPeer(Peer({"name": "web", "kind": "rump-http"}, "t.toml", 1), str(tmp_path), opts, "tcg")
        cmd = " ".join(p.cmdline(str(tmp_path / "s.sock")))
        assert "-device virtio-net-pci," in cmd, cmd
        assert nic == "virtio" or nic not in cmd.split("-device ", 1)[1].split(" ")[0]
