"""fwbuild: variants, the NetworkPkg patch switch, and the cache's atomicity,
on a fake edk2 tree with a fake build command (the real build is not run
here; the last tests look at real cache entries only when present)."""
import json
import os
import subprocess

import pytest

from conftest import fwnet
from fwnet import firmware, fwbuild

ORIG = "int parse(void) { return 0; }\n"
FIXED = "int parse(void) { return check() ? 0 : -1; }\n"
PATCH = """--- a/NetworkPkg/Ip6Dxe/Ip6Option.c
+++ b/NetworkPkg/Ip6Dxe/Ip6Option.c
@@ -1 +1 @@
-int parse(void) { return 0; }
+int parse(void) { return check() ? 0 : -1; }
"""
YAML_PATCH = """--- /dev/null
+++ b/NetworkPkg/SecurityFixes.yaml
@@ -0,0 +1 @@
+CVE_2099_0001: {}
"""


@pytest.fixture
def tree(tmp_path):
    """An edk2 tree as dpkg-source leaves it: Debian's patches applied."""
    src = tmp_path / "edk2-src"
    (src / "debian" / "patches").mkdir(parents=True)
    (src / "NetworkPkg" / "Ip6Dxe").mkdir(parents=True)
    (src / "edksetup.sh").write_text("# fake\n")
    (src / "debian" / "changelog").write_text("edk2 (2022.11-6+deb12u2) bookworm-security; urgency=medium\n")
    (src / "debian" / "patches" / "0008-NetworkPkg-Ip6Dxe-SECURITY-PATCH-CVE-2099-0001-Patc.patch").write_text(PATCH)
    (src / "debian" / "patches" / "0015-NetworkPkg-Adds-a-SecurityFix.yaml-file.patch").write_text(YAML_PATCH)
    (src / "debian" / "patches" / "x64-baseline-abi.patch").write_text("")
    (src / "debian" / "patches" / "series").write_text(
        "x64-baseline-abi.patch\n0008-NetworkPkg-Ip6Dxe-SECURITY-PATCH-CVE-2099-0001-Patc.patch\n"
        "0015-NetworkPkg-Adds-a-SecurityFix.yaml-file.patch\n")
    (src / "NetworkPkg" / "Ip6Dxe" / "Ip6Option.c").write_text(FIXED)
    (src / "NetworkPkg" / "SecurityFixes.yaml").write_text("CVE_2099_0001: {}\n")
    return src


class FakeBuild:
    """Stands in for run_logged: records commands, writes FV files or fails."""
    def __init__(self, fail_on=None, write=True):
        self.cmds, self.fail_on, self.write = [], fail_on, write

    def __call__(self, cmd, cwd, log):
        self.cmds.append(cmd)
        with open(log, "a") as f:
            f.write("$ %s\n" % cmd)
        if self.fail_on and self.fail_on in cmd:
            with open(log, "a") as f:
                f.write("error: planted failure\n")
            return False
        if " build " in cmd and self.write:
            bt = "DEBUG" if "-b DEBUG" in cmd else "RELEASE"
            fv = os.path.join(cwd, "Build", "Ovmf3264", "%s_GCC5" % bt, "FV")
            os.makedirs(fv, exist_ok=True)
            src = open(os.path.join(cwd, "NetworkPkg", "Ip6Dxe", "Ip6Option.c"), "rb").read()
            with open(os.path.join(fv, "OVMF_CODE.fd"), "wb") as f:
                f.write(b"CODE " + bt.encode() + b" " + src)
            with open(os.path.join(fv, "OVMF_VARS.fd"), "wb") as f:
                f.write(b"VARS")
        return True


def build(tree, tmp_path, name, runner, **kw):
    return fwbuild.build_variant(name, src=str(tree), cache=str(tmp_path / "cache"), fetch=False, runner=runner,
                                 progress=lambda m: None, **kw)


def test_variants_and_commands():
    assert {"debian", "no-security-patches", "debug", "debug-no-security-patches"} <= set(fwbuild.VARIANTS)
    cmd = fwbuild.VARIANTS["debian"].command()
    assert cmd[:9] == ["build", "-a", "IA32", "-a", "X64", "-t", "GCC5", "-p", "OvmfPkg/OvmfPkgIa32X64.dsc"]
    for f in ("-DNETWORK_HTTP_BOOT_ENABLE=TRUE", "-DNETWORK_IP6_ENABLE=TRUE", "-DNETWORK_TLS_ENABLE",
              "-DSECURE_BOOT_ENABLE=TRUE", "-DTPM2_ENABLE=TRUE", "-DFD_SIZE_4MB"):
        assert f in cmd
    assert cmd[-2:] == ["-b", "RELEASE"] and "-DSMM_REQUIRE=TRUE" not in cmd
    dbg = fwbuild.VARIANTS["debug"].command()
    assert dbg[-2:] == ["-b", "DEBUG"]
    assert "gEfiMdePkgTokenSpaceGuid.PcdDebugPrintErrorLevel=0x8000404F" in dbg
    assert not any("DEBUG_ON_SERIAL_PORT" in a for a in dbg)  # the .dsc tests it with !ifdef


def test_unknown_variant_is_an_error(tree, tmp_path):
    with pytest.raises(fwbuild.FirmwareBuildError, match="no such firmware variant: 'nosuch'"):
        build(tree, tmp_path, "nosuch", FakeBuild())
    r = fwnet("firmware", "build", "nosuch", timeout=60)
    assert r.returncode == 2 and "no such firmware variant: 'nosuch'" in r.stderr and "debian" in r.stderr


def test_build_writes_a_complete_entry(tree, tmp_path):
    fake = FakeBuild()
    ident = build(tree, tmp_path, "debian", fake)
    d = ident["dir"]
    assert os.path.basename(d) == "debian-2022.11-6+deb12u2"
    assert sorted(os.listdir(d)) == ["OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd", "build.log", "fwnet-debian.json",
                                     "identity.json"]
    j = json.load(open(os.path.join(d, "identity.json")))
    assert j["variant"] == "debian" and j["source_version"] == "2022.11-6+deb12u2" and j["build_type"] == "RELEASE"
    assert j["sha256"]["OVMF_CODE_4M.fd"] == fwbuild.sha256(os.path.join(d, "OVMF_CODE_4M.fd"))
    assert j["patches_reverted"] == [] and "0015-NetworkPkg-Adds-a-SecurityFix.yaml-file.patch" in j["patches_applied"]
    assert "make -C BaseTools" in fake.cmds[0] and "OvmfPkgIa32X64.dsc" in fake.cmds[1]
    # the descriptor is one QEMU (and fwnet's firmware.py) takes
    fw = firmware.parse_descriptor(os.path.join(d, "fwnet-debian.json"))
    assert fw["name"] == "fwnet-debian" and fw["code"] == os.path.join(d, "OVMF_CODE_4M.fd") and fw["vars"] == os.path.join(d, "OVMF_VARS_4M.fd")
    assert fw["arch"] == "x86_64"
    # cached: not rebuilt
    again = FakeBuild()
    assert build(tree, tmp_path, "debian", again)["dir"] == d and again.cmds == []
    assert fwbuild.cached("debian", str(tmp_path / "cache"))["dir"] == d
    assert fwbuild.cached("debug", str(tmp_path / "cache")) is None


def test_failed_build_leaves_no_entry(tree, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(fwbuild.FirmwareBuildError) as ei:
        build(tree, tmp_path, "no-security-patches", FakeBuild(fail_on="OvmfPkgIa32X64.dsc"))
    msg = str(ei.value)
    assert "firmware no-security-patches" in msg and "no-security-patches-failed.log" in msg
    assert sorted(os.listdir(cache)) == ["no-security-patches-failed.log"]  # no entry, no temp dir
    assert "planted failure" in (cache / "no-security-patches-failed.log").read_text()
    assert fwbuild.cached("no-security-patches", str(cache)) is None
    # a build that "succeeds" without images is a failure too
    with pytest.raises(fwbuild.FirmwareBuildError, match="produced no OVMF_CODE.fd"):
        build(tree, tmp_path, "debug", FakeBuild(write=False))
    assert not [n for n in os.listdir(cache) if not n.endswith("-failed.log")]
    # a later good build replaces nothing half-written and removes the failure log
    build(tree, tmp_path, "no-security-patches", FakeBuild())
    assert sorted(os.listdir(cache)) == ["debug-failed.log", "no-security-patches-2022.11-6+deb12u2"]


def test_interrupted_build_leaves_no_entry(tree, tmp_path):
    def interrupted(cmd, cwd, log):
        if " build " in cmd:
            raise KeyboardInterrupt
        return True
    with pytest.raises(KeyboardInterrupt):
        build(tree, tmp_path, "debian", interrupted)
    assert os.listdir(tmp_path / "cache") == ["debian-failed.log"]
    # a SIGKILLed build's temporary directory goes with the next build of that variant
    (tmp_path / "cache" / ".tmp-debian-killed").mkdir()
    build(tree, tmp_path, "debian", FakeBuild())
    assert sorted(os.listdir(tmp_path / "cache")) == ["debian-2022.11-6+deb12u2"]


def test_security_patches_switch_in_one_tree(tree, tmp_path):
    src = tree / "NetworkPkg" / "Ip6Dxe" / "Ip6Option.c"
    a = build(tree, tmp_path, "no-security-patches", FakeBuild())
    assert src.read_text() == ORIG and not (tree / "NetworkPkg" / "SecurityFixes.yaml").exists()
    assert fwbuild.patch_state(str(tree)) == "reverted"
    assert a["patches_reverted"] == ["0015-NetworkPkg-Adds-a-SecurityFix.yaml-file.patch",
                                     "0008-NetworkPkg-Ip6Dxe-SECURITY-PATCH-CVE-2099-0001-Patc.patch"]
    assert "x64-baseline-abi.patch" in a["patches_applied"]
    b = build(tree, tmp_path, "debian", FakeBuild())
    assert src.read_text() == FIXED and fwbuild.patch_state(str(tree)) == "applied"
    assert a["sha256"]["OVMF_CODE_4M.fd"] != b["sha256"]["OVMF_CODE_4M.fd"]
    assert "incremental" in b["tree"]


def test_failed_patch_leaves_the_tree_as_recorded(tree, tmp_path):
    # 0008 no longer reverses (the file changed): 0015 is re-applied, state stays "applied"
    (tree / "NetworkPkg" / "Ip6Dxe" / "Ip6Option.c").write_text("something else\n")
    with pytest.raises(fwbuild.FirmwareBuildError, match="patch -R 0008-NetworkPkg"):
        build(tree, tmp_path, "no-security-patches", FakeBuild())
    assert fwbuild.patch_state(str(tree)) == "applied"
    assert (tree / "NetworkPkg" / "SecurityFixes.yaml").exists()
    assert os.listdir(tmp_path / "cache") == ["no-security-patches-failed.log"]


# ---- the real cache (only when built) ----

def real(variant):
    c = fwbuild.cached(variant)
    if not c:
        pytest.skip("fwnet firmware build %s not cached" % variant)
    return c


@pytest.mark.parametrize("variant", list(fwbuild.VARIANTS))
def test_real_cache_entry_is_consistent(variant):
    c = real(variant)
    assert c["sha256"]["OVMF_CODE_4M.fd"] == fwbuild.sha256(os.path.join(c["dir"], "OVMF_CODE_4M.fd"))
    # the installed OVMF_CODE_4M.fd's layout: same size
    assert os.path.getsize(os.path.join(c["dir"], "OVMF_CODE_4M.fd")) == 3653632
    fw = firmware.parse_descriptor(os.path.join(c["dir"], fwbuild.descriptor_name(variant)))
    assert os.path.exists(fw["code"]) and os.path.exists(fw["vars"])
    assert (c["patches_reverted"] == []) == ("no-security-patches" not in variant)


def test_real_variants_differ_only_where_expected():
    a, b = real("debian"), real("no-security-patches")
    assert a["sha256"]["OVMF_CODE_4M.fd"] != b["sha256"]["OVMF_CODE_4M.fd"]
    assert a["source_version"] == b["source_version"]
