"""fwnet matrix: firmware descriptors, expected results per build, sharding
and merging, the grid's planted difference, fwnet compare, CI workflows."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import ROOT, fwnet
from fwnet import expectations, firmware, grid, matrix, scenario


# ---- firmware descriptors ----

def _descriptor(tmp_path, name, mapping, features=(), arch="x86_64"):
    p = tmp_path / (name + ".json")
    p.write_text(json.dumps({"description": name, "interface-types": ["uefi"], "mapping": mapping,
                             "targets": [{"architecture": arch, "machines": ["pc-q35-*"]}],
                             "features": list(features)}))
    return str(p)


def test_descriptor_flash_smm_and_formats(tmp_path):
    code, vars_ = tmp_path / "C.fd", tmp_path / "V.qcow2"
    code.write_bytes(b"c" * 64)
    vars_.write_bytes(b"v")
    d = _descriptor(tmp_path, "10-sb", {"device": "flash", "executable": {"filename": str(code), "format": "raw"},
                                        "nvram-template": {"filename": str(vars_), "format": "qcow2"}},
                    ["requires-smm", "secure-boot"])
    fw = firmware.pick(d)
    machine, args = firmware.qemu_args(fw, "/tmp/v")
    assert machine[:2] == ["-machine", "q35,smm=on"]
    assert "driver=cfi.pflash01,property=secure,value=on" in machine
    assert "if=pflash,format=qcow2,unit=1,file=/tmp/v" in args
    # a directory of descriptors names each; by name with and without priority
    assert [f["name"] for f in firmware.resolve(str(tmp_path))] == ["10-sb"]
    assert firmware.resolve("sb", [str(tmp_path)])[0]["code"] == str(code)
    assert firmware.identity(fw)["sha256"] == firmware.sha256(str(code))


def test_descriptor_errors_name_the_reason(tmp_path):
    d = _descriptor(tmp_path, "bad", {"device": "tape", "filename": "/x"})
    with pytest.raises(firmware.FirmwareError, match="unknown mapping device 'tape'"):
        firmware.pick(d)
    d = _descriptor(tmp_path, "gone", {"device": "flash", "executable": {"filename": str(tmp_path / "none.fd")},
                                       "nvram-template": {"filename": str(tmp_path / "nv.fd")}})
    with pytest.raises(firmware.FirmwareError, match="CODE file .* is missing"):
        firmware.pick(d)
    with pytest.raises(firmware.FirmwareError, match="no vars template beside it"):
        (tmp_path / "X_CODE.fd").write_bytes(b"x")
        firmware.pick(str(tmp_path / "X_CODE.fd"))


@pytest.mark.skipif(not os.path.exists("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"), reason="Debian's ovmf not installed")
def test_debian_secboot_code_path_finds_its_descriptor():
    fw = firmware.pick("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd")
    assert fw["vars"] == "/usr/share/OVMF/OVMF_VARS_4M.fd" and "requires-smm" in fw["features"]
    # *.ms.fd is a link to *.secboot.fd: told apart by the vars template
    ms = firmware.pick("/usr/share/OVMF/OVMF_CODE_4M.ms.fd")
    assert ms["vars"].endswith("OVMF_VARS_4M.ms.fd") and "enrolled-keys" in ms["features"]
    snake = firmware.pick("/usr/share/OVMF/OVMF_CODE_4M.snakeoil.fd")
    assert snake["vars"].endswith("OVMF_VARS_4M.snakeoil.fd")


# ---- expected results per build ----

def test_version_ranges():
    assert expectations.version_key("2022.11-6+deb12u2") == (2022, 11)
    assert expectations.version_key("edk2-stable202405") == (2024, 5)
    assert expectations.version_matches(">=2022.11,<2024.05", "2022.11-6+deb12u2")
    assert not expectations.version_matches(">=2022.11,<2024.05", "edk2-stable202405")
    assert expectations.version_matches("==2022.11", "2022.11-6")


def _scenario(tmp_path, devs):
    p = tmp_path / "s.toml"
    p.write_text('steps = """\nresolve peer.test => ret=-2\n"""\n' + devs)
    return scenario.Scenario(str(p)) if hasattr(scenario, "Scenario") else scenario.load(str(p))


def test_deviations_keyed_by_build_and_several_per_step(tmp_path):
    sc = _scenario(tmp_path, """
[[deviations.ovmf]]
step = 1
expect = { ret = "-3" }
firmware = { vendor = "EDK II", version = ">=2022.11,<2024.05" }
why = "old DnsDxe"

[[deviations.ovmf]]
step = 1
expect = { ret = "-4" }
firmware = { sha256 = "abc" }
why = "a build with another answer"
""")
    old = {"vendor": "EDK II", "package_version": "2022.11-6+deb12u2", "bios_version": "0.0.0", "sha256": "abc"}
    new = {"vendor": "EDK II", "bios_version": "edk2-stable202405", "sha256": "def"}
    d = expectations.for_steps(sc, "ovmf", None, old)[1]
    assert len(d) == 2  # both listed, neither overwrote the other
    assert expectations.listed(d, "ret", -3) and d["why"] == "old DnsDxe"
    assert expectations.listed(d, "ret", -4) and d["why"] == "a build with another answer"
    assert expectations.for_steps(sc, "ovmf", None, new) == {}
    assert expectations.for_steps(sc, "ovmf", None, {"vendor": "EDK II"}) == {}  # unknown version: no match
    # a listed deviation that did not occur: now conforms
    gone = expectations.now_conforms(sc, "ovmf", None, ["step 1 ret: -3 instead of -2 (old DnsDxe)"], old)
    assert len(gone) == 1 and "a build with another answer" in gone[0]


def test_dns_deviations_hold_for_ovmf_2022_11_only():
    sc = scenario.load_dir(os.path.join(ROOT, "scenarios"), ["netsim-dns-nxdomain"])[0]
    deb = expectations.complete({"vendor": "EDK II", "bios_version": "0.0.0", "package": "ovmf",
                                 "package_version": "2022.11-6+deb12u2"})
    assert expectations.for_steps(sc, "ovmf", "netsim", deb)[1]["expect"] == {"ret": "-3"}
    assert expectations.for_steps(sc, "ovmf", "netsim", dict(deb, package_version="2024.02-1")) == {}
    assert expectations.for_steps(sc, "rump", "netsim", None)[1]["expect"] == {"ret": "-4"}


# ---- matrix: cells, shards, merge, grid, compare (fakes: fast, no QEMU) ----

def test_cells_and_shards_are_deterministic():
    m = matrix.named("default")
    cells = matrix.cells_of(m)
    assert len(cells) == len(m["firmware"]) * len(m["nic"])
    assert [c.id for c in cells] == sorted(c.id for c in cells)
    scens = scenario.load_dir(os.path.join(ROOT, "scenarios"), ["tcp-connect-ok", "tcp-echo-1k"])
    parts = [matrix.shard_units(cells, scens, (i, 3)) for i in (1, 2, 3)]
    allu = matrix.units(cells, scens)
    assert sorted((c.id, s.name) for p in parts for c, s in p) == [(c.id, s.name) for c, s in allu]
    assert parts == [matrix.shard_units(cells, scens, (i, 3)) for i in (1, 2, 3)]


@pytest.fixture(scope="module")
def fakes_runs(built, tmp_path_factory):
    base = tmp_path_factory.mktemp("mx")
    outs = {}
    for key, extra in (("all", []), ("s1", ["--shard", "1/2"]), ("s2", ["--shard", "2/2"])):
        outs[key] = str(base / key)
        r = fwnet("matrix", "fakes-demo", "--no-build", "--out", outs[key], *extra)
        assert os.path.exists(os.path.join(outs[key], "matrix.json")), r.stdout + r.stderr
        if key == "all":
            assert r.returncode == 1, "the planted quirk cell must make the run incomplete"
    outs["merged"] = str(base / "merged")
    r = fwnet("merge", outs["s1"], outs["s2"], "--out", outs["merged"])
    assert r.returncode == 1, r.stdout + r.stderr
    return outs


def _load(d):
    with open(os.path.join(d, "matrix.json")) as f:
        return json.load(f)


def test_sharded_and_merged_equals_unsharded(fakes_runs):
    a, m = _load(fakes_runs["all"]), _load(fakes_runs["merged"])
    assert matrix.canonical(a) == matrix.canonical(m)
    assert open(os.path.join(fakes_runs["all"], "summary.txt")).read() == \
        open(os.path.join(fakes_runs["merged"], "summary.txt")).read()
    s1, s2 = _load(fakes_runs["s1"]), _load(fakes_runs["s2"])
    n = lambda mx: sum(len(c["result"]["scenarios"]) for c in mx["cells"])  # noqa: E731
    assert n(s1) + n(s2) == n(a) and n(s1) and n(s2)


def test_planted_difference_is_exactly_that_cell(fakes_runs):
    mx = _load(fakes_runs["all"])
    bad = [(c["id"], s["name"]) for c in mx["cells"] for s in c["result"]["scenarios"]
           if matrix.state(s) not in ("pass", "skip")]
    assert bad == [("fakes.q-dhcp-never-answers", "net-dhcp")]
    html = open(os.path.join(fakes_runs["all"], "grid.html")).read()
    assert "fakes.q-dhcp-never-answers" in html and "ETIMEDOUT" in html
    r = fwnet("compare", fakes_runs["all"] + "#fakes", fakes_runs["all"] + "#fakes.q-dhcp-never-answers")
    assert r.returncode == 1
    changes = [l for l in r.stdout.splitlines() if " -> " in l and "compare" not in l]
    assert len(changes) == 1 and "net-dhcp: pass -> error" in changes[0], r.stdout
    r = fwnet("compare", fakes_runs["all"], fakes_runs["merged"])
    assert r.returncode == 0 and "0 change(s)" in r.stdout, r.stdout


def test_junit_names_the_cell(fakes_runs):
    import xml.etree.ElementTree as ET
    t = ET.parse(os.path.join(fakes_runs["all"], "junit.xml"))
    cases = t.findall(".//testcase")
    assert cases and all("[" in c.get("name") for c in cases)
    props = {p.get("name"): p.get("value") for p in cases[0].findall("./properties/property")}
    assert props["cell"] in cases[0].get("name") and props["backend"] == "fakes"


# ---- CI workflows ----

def test_ci_files_are_generated_from_the_matrix():
    assert matrix.emit_ci(check=True) == [], "run ./fwnet matrix --emit-ci"


def test_ci_files_pass_yamllint():
    if not shutil.which("yamllint"):
        pytest.skip("yamllint not installed (Debian package yamllint)")
    files = [os.path.join(ROOT, "ci", f) for f in matrix.CI_FILES]
    r = subprocess.run(["yamllint", "-d", "{extends: default, rules: {line-length: {max: 130}, document-start: disable}}"]
                       + files, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_github_workflow_passes_action_validator():
    local = os.path.join(ROOT, "build", "deps", "node_modules", ".bin", "action-validator")
    if os.path.exists(local):
        cmd = [local]
    elif shutil.which("npx"):
        cmd = ["npx", "--yes", "@action-validator/cli"]
    else:
        pytest.skip("neither build/deps/node_modules/.bin/action-validator nor npx (npm install --prefix build/deps "
                    "@action-validator/cli)")
    r = subprocess.run(cmd + [os.path.join(ROOT, "ci", "github-workflow.yml")], capture_output=True, text=True,
                       timeout=300)
    if r.returncode and ("ENOTFOUND" in r.stderr or "EAI_AGAIN" in r.stderr or "network" in r.stderr.lower()):
        pytest.skip("npm registry unreachable: %s" % r.stderr.strip().splitlines()[-1])
    assert r.returncode == 0, r.stdout + r.stderr


# ---- the boot probe, derived matrices, ia32 (no QEMU) ----

def test_probe_classifies_why_a_cell_cannot_boot():
    st, why = matrix.classify_boot_failure(
        "guest stopped: qemu-system-x86_64 exited with status -9",
        b"\x1b[0mBdsDxe: loading Boot0001\r\nBdsDxe: failed to load Boot0001 \"UEFI Misc Device\" from "
        b"PciRoot(0x0)/Pci(0x3,0x0): Access Denied\r\n")
    assert st == "secure-boot-refused" and "Access Denied" in why and "Boot0001" in why
    assert matrix.classify_boot_failure("x", b"Image ... Security Violation\n")[0] == "secure-boot-refused"
    st, why = matrix.classify_boot_failure("guest gave no reply within 60 s (QEMU running)", b"")
    assert st == "timeout" and "nothing on serial" in why
    st, why = matrix.classify_boot_failure("guest gave no reply within 60 s (QEMU running)", b"BdsDxe: starting\r\n")
    assert st == "timeout" and "BdsDxe: starting" in why
    assert matrix.classify_boot_failure("guest stopped: qemu-system-i386 exited with status 1", b"")[0] == "qemu-exit"


def test_probe_of_a_missing_firmware_names_the_file(tmp_path):
    class A:  # the matrix's options, as far as the probe reads them before booting
        firmware_dir, scenario_dir, keep = (), os.path.join(ROOT, "scenarios"), False
    cell = matrix.Cell("ovmf", str(tmp_path / "GONE_CODE.fd"), "virtio")
    rec = matrix.probe_cell(A(), cell, str(tmp_path), print)
    assert rec["probe"]["state"] == "missing-file" and "GONE_CODE.fd" in rec["probe"]["reason"]
    assert rec["result"]["scenarios"][0]["verdict"] == "error"
    mx = matrix.assemble("t", None, [matrix._Named(matrix.PROBE)], [rec])
    mx["probe"] = True
    text = grid.summary_text(mx)
    assert "| %s | missing-file |" % cell.id in text and "probe states: 1 missing-file" in text


def test_derived_matrix_lists_cells_that_cannot_boot(tmp_path):
    d = tmp_path / "m.toml"
    d.write_text('[matrix.a]\nbackend = "ovmf"\nfirmware = ["/x/A_CODE.fd", "/x/B_CODE.fd"]\nnic = ["virtio", "e1000"]\n'
                 '[matrix.b]\nfrom = "a"\n[matrix.b.cannot_boot]\n"ovmf.B_CODE.fd.*" = "Secure Boot refuses it"\n'
                 '[matrix.loop]\nfrom = "loop"\n')
    b = matrix.named("b", str(d))
    cells = matrix.cells_of(b)
    assert len(cells) == 4 and b["derived_from"] == "a"  # nothing dropped
    listed = {c.id: matrix.cannot_boot(b, c) for c in cells}
    assert listed == {"ovmf.A_CODE.fd.e1000": None, "ovmf.A_CODE.fd.virtio": None,
                      "ovmf.B_CODE.fd.e1000": "Secure Boot refuses it", "ovmf.B_CODE.fd.virtio": "Secure Boot refuses it"}
    scens = [matrix._Named("tcp-connect-ok")]
    rec = matrix.listed_cell(cells[2], scens, listed[cells[2].id])
    mx = matrix.assemble("b", None, scens, [rec])
    assert not matrix.incomplete(mx)  # listed, skipped with its reason, not an error
    assert "CANNOT BOOT (listed): Secure Boot refuses it" in grid.summary_text(mx)
    with pytest.raises(matrix.MatrixError, match="loops"):
        matrix.named("loop", str(d))


def test_default_booting_keeps_every_default_cell():
    d, b = matrix.named("default"), matrix.named("default-booting")
    assert [c.id for c in matrix.cells_of(d)] == [c.id for c in matrix.cells_of(b)]
    for pat, why in b["cannot_boot"].items():
        assert why and any(matrix.cannot_boot(b, c) for c in matrix.cells_of(b)), pat


def _pe(machine):
    head = bytearray(0x100)
    head[:2] = b"MZ"
    head[0x3c:0x40] = (0x80).to_bytes(4, "little")
    head[0x80:0x84] = b"PE\0\0"
    head[0x84:0x86] = machine.to_bytes(2, "little")
    return bytes(head)


def test_boot_file_name_follows_the_apps_architecture(tmp_path):
    from fwnet import qemu
    for m, name in ((0x8664, "BOOTX64.EFI"), (0x14c, "BOOTIA32.EFI")):
        p = tmp_path / ("%x.efi" % m)
        p.write_bytes(_pe(m))
        assert qemu.boot_name(str(p)) == name
    (tmp_path / "arm.efi").write_bytes(_pe(0xaa64))
    with pytest.raises(qemu.QemuError, match="PE machine 0xaa64"):
        qemu.boot_name(str(tmp_path / "arm.efi"))
    boot = qemu.ovmf_boot({"name": "ia32", "arch": "i386", "code": "/c", "vars": "/v", "features": []}, "/v", "/d")
    assert boot.binary == "qemu-system-i386"
    assert qemu.ovmf_boot({"name": "x", "arch": "x86_64", "code": "/c", "vars": "/v"}, "/v", "/d").binary == \
        "qemu-system-x86_64"


def test_smm_firmware_without_s3_gets_s3_disabled(tmp_path):
    # Debian's 2M OVMF_CODE.secboot.fd (64-bit PEI, SMM, no S3) hangs silently unless S3 is off
    for name, off in (("OVMF_CODE.secboot.fd", True), ("OVMF_CODE_4M.secboot.fd", False), ("OVMF_CODE.fd", False)):
        (tmp_path / name).write_bytes(b"c")
        (tmp_path / "OVMF_VARS.fd").write_bytes(b"v")
        (tmp_path / "OVMF_VARS_4M.fd").write_bytes(b"v")
        fw = firmware.from_code(str(tmp_path / name))
        machine, _ = firmware.qemu_args(fw, "/tmp/v")
        assert ("ICH9-LPC.disable_s3=1" in machine) == off, name


@pytest.mark.skipif(not os.path.exists("/usr/share/OVMF/OVMF32_CODE_4M.secboot.fd"), reason="Debian's ovmf-ia32 not installed")
def test_debian_ia32_firmware_is_i386():
    fw = firmware.pick("/usr/share/OVMF/OVMF32_CODE_4M.secboot.fd")
    assert fw["arch"] == "i386" and fw["vars"] == "/usr/share/OVMF/OVMF32_VARS_4M.fd"
    from fwnet import build
    assert build.agent_app(fw["arch"]) == "fwnet-agent-ia32" and build.agent_app("x86_64") == "fwnet-agent"


@pytest.mark.skipif(not os.path.exists("/usr/share/OVMF/OVMF32_CODE_4M.secboot.fd") or not shutil.which("qemu-system-i386"),
                    reason="Debian's ovmf-ia32 or qemu-system-i386 not installed")
def test_probe_boots_the_ia32_agent_on_ovmf32(built):
    """The probe on one ia32 cell: qemu-system-i386, BOOTIA32.EFI, hello and fwinfo."""
    import pathlib
    import tempfile
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="fwp", dir="/tmp"))  # serial socket paths < 108 bytes
    r = fwnet("matrix", "--probe", "--no-build", "--firmware", "/usr/share/OVMF/OVMF32_CODE_4M.secboot.fd",
              "--nic", "virtio", "--out", str(tmp_path), timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    mx = json.load(open(tmp_path / "matrix.json"))
    (cell,) = mx["cells"]
    assert cell["probe"]["state"] == "boots", cell["probe"]
    assert cell["identity"]["arch"] == "i386" and "Virtio" in cell["identity"]["nic_driver"]
    cmd = open(tmp_path / "cells" / cell["id"] / "qemu.cmdline").read()
    assert cmd.startswith("qemu-system-i386 ")
    # the safety rule on either network: a user netdev only with restrict=on (lan has none)
    assert ("user," not in cmd or "restrict=on" in cmd) and ("restrict=on" in cmd or "stream" in cmd), cmd
    assert (tmp_path / "probe.md").exists()
    shutil.rmtree(tmp_path, ignore_errors=True)
