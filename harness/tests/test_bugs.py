"""The bug catalogue (bugs/): its format, the verdict logic on synthetic
scenario results, the statistical judgement (wire.py's checks) and the table."""
import os
import random

import pytest

from conftest import ROOT, fwnet
from fwnet import bugs

VALID = '''
id = "CVE-2099-0001"
title = "a planted bug"
module = "NetworkPkg/TcpDxe"
provoke = "send something"
present-looks-like = "the firmware stops"
limits = "none known"

[references]
cve = "CVE-2099-0001"

[range]
affected = "edk2-stable202311"
fixed = "edk2-stable202402"

[detect]
kind = "hang"
scenarios = ["planted-scenario"]

[applies-to]
needs = ["ipv6"]
expected = { debian = "absent", no-security-patches = "present" }
'''


def write(tmp_path, text, name="CVE-2099-0001"):
    p = tmp_path / ("%s.toml" % name)
    p.write_text(text)
    return str(p)


def entry(tmp_path, text=VALID, name="CVE-2099-0001"):
    return bugs.load_file(write(tmp_path, text, name), ["debian", "no-security-patches", "debug"])


# ---- format ----

def test_catalogue_loads_and_covers_the_issue():
    es = bugs.load()
    ids = {e.id for e in es}
    assert len(es) >= 15
    for want in ["CVE-2023-45229", "CVE-2023-45230", "CVE-2023-45231", "CVE-2023-45232", "CVE-2023-45233",
                 "CVE-2023-45234", "CVE-2023-45235", "CVE-2023-45236", "CVE-2023-45237", "CVE-2018-12178",
                 "CVE-2019-14559", "dnsdxe-nxdomain-ignored", "dnsdxe-cname-chain", "dnsdxe-no-tcp-after-tc",
                 "tcp-out-of-window-no-ack", "tcp-window-retraction-wscale", "tcp-rst-storm-unknown-connection",
                 "tcp-delayed-ack-stall"]:
        assert want in ids
    by = {e.id: e for e in es}
    assert by["CVE-2023-45232"].expected["no-security-patches"] == "present"
    assert by["CVE-2023-45232"].expected["debian"] == "absent"
    assert by["CVE-2023-45236"].kind == "statistical"
    # the DnsDxe entries: the existing scenarios (DNS4 only) and their listed ovmf deviations
    for b, base in (("dnsdxe-nxdomain-ignored", "netsim-dns-nxdomain"), ("dnsdxe-cname-chain", "netsim-dns-cname"),
                    ("dnsdxe-no-tcp-after-tc", "netsim-dns-truncated")):
        assert os.path.exists(os.path.join(ROOT, "scenarios", base + ".toml")), base
        assert by[b].scenarios == [base]
        assert by[b].present_when == "deviation" and by[b].net in ("netsim", "lan") and by[b].also_fail  # lan: netsim's DNS zone there too


def test_valid_entry_loads(tmp_path):
    e = entry(tmp_path)
    assert e.id == "CVE-2099-0001" and e.kind == "hang" and e.present_when == "hang"
    assert e.scenarios == ["planted-scenario"] and e.needs == ["ipv6"] and e.net is None
    assert "CVE-2099-0001" in e.reference_text()


def test_entry_without_reference_is_an_error_naming_the_file(tmp_path):
    text = VALID.replace('[references]\ncve = "CVE-2099-0001"\n', "")
    with pytest.raises(bugs.CatalogueError) as ei:
        entry(tmp_path, text)
    assert "CVE-2099-0001.toml" in str(ei.value) and "no reference" in str(ei.value)
    # an empty reference table is no better
    text = VALID.replace('cve = "CVE-2099-0001"\n', 'note = "ask around"\n')
    with pytest.raises(bugs.CatalogueError, match="CVE-2099-0001.toml: no reference"):
        entry(tmp_path, text)


def test_entry_without_detection_is_an_error_naming_the_file(tmp_path):
    text = VALID.replace('[detect]\nkind = "hang"\nscenarios = ["planted-scenario"]\n', "")
    with pytest.raises(bugs.CatalogueError) as ei:
        entry(tmp_path, text)
    assert "CVE-2099-0001.toml" in str(ei.value) and "no detection method" in str(ei.value)
    text = VALID.replace('scenarios = ["planted-scenario"]\n', "")
    with pytest.raises(bugs.CatalogueError, match="CVE-2099-0001.toml: no detection method"):
        entry(tmp_path, text)
    with pytest.raises(bugs.CatalogueError, match="detect.kind 'telepathy' unknown"):
        entry(tmp_path, VALID.replace('kind = "hang"', 'kind = "telepathy"'))


def test_other_format_errors(tmp_path):
    with pytest.raises(bugs.CatalogueError, match="missing key 'limits'"):
        entry(tmp_path, VALID.replace('limits = "none known"\n', ""))
    with pytest.raises(bugs.CatalogueError, match="no such firmware variant nosuch"):
        entry(tmp_path, VALID.replace("debian = ", "nosuch = "))
    with pytest.raises(bugs.CatalogueError, match="does not match the file name"):
        entry(tmp_path, VALID, name="other")
    with pytest.raises(bugs.CatalogueError, match="unreadable"):
        entry(tmp_path, VALID + "\n[[[")
    with pytest.raises(bugs.CatalogueError, match="detect.net 'wifi' unknown"):
        entry(tmp_path, VALID.replace('kind = "hang"', 'kind = "hang"\nnet = "wifi"'))
    with pytest.raises(bugs.CatalogueError, match="present-when 'maybe' unknown"):
        entry(tmp_path, VALID.replace('kind = "hang"', 'kind = "hang"\npresent-when = "maybe"'))


def test_cli_list_and_bad_catalogue(tmp_path):
    r = fwnet("bugs", "--list", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "CVE-2023-45232" in r.stdout and "ip6-destopt-unknown-option" in r.stdout
    write(tmp_path, VALID.replace('[references]\ncve = "CVE-2099-0001"\n', ""))
    r = fwnet("bugs", "--list", "--bugs-dir", str(tmp_path), timeout=60)
    assert r.returncode == 2 and "CVE-2099-0001.toml: no reference" in r.stderr
    r = fwnet("bugs", "--list", "--bug", "CVE-1999-9999", timeout=60)
    assert r.returncode == 2 and "no catalogue entry CVE-1999-9999" in r.stderr


# ---- verdicts ----

FW = {"label": "debian", "variant": "debian", "build_type": "RELEASE"}
FW_NOSEC = {"label": "no-security-patches", "variant": "no-security-patches", "build_type": "RELEASE"}


def test_verdict_hang_entry(tmp_path):
    e = entry(tmp_path)
    ok = {"planted-scenario": {"name": "planted-scenario", "verdict": "pass", "problems": [], "deviations": []}}
    assert bugs.verdict(e, FW, ok) == ("absent", "scenario passed")
    hang = {"planted-scenario": {"name": "planted-scenario", "verdict": "error",
                                 "error": "step 3: no reply within 30 s",
                                 "crash": {"kind": "hang", "summary": "hang: silent for 25.0 s while a reply was due"}}}
    st, ev = bugs.verdict(e, FW_NOSEC, hang)
    assert st == "present" and "silent for 25.0 s" in ev
    # a listed hang (status=hang) without crashdet's word still counts
    listed = {"planted-scenario": {"name": "planted-scenario", "verdict": "pass", "deviations": ["step 2 status"],
                                   "steps": [{"reply": {"ret": "0"}}, {"reply": {"status": "hang"}}]}}
    assert bugs.verdict(e, FW, listed)[0] == "present"
    # an exception is not what a hang entry detects
    crash = {"planted-scenario": {"name": "planted-scenario", "verdict": "error", "error": "guest died",
                                  "crash": {"kind": "exception", "summary": "CPU exception #GP"}}}
    st, ev = bugs.verdict(e, FW, crash)
    assert st == "inconclusive" and "#GP" in ev
    assert bugs.verdict(e, FW, {"planted-scenario": {"verdict": "error", "error": "start: no QEMU"}})[0] \
        == "inconclusive"
    # a guest that never answered is a setup error, not the firmware hanging on the provocation
    setup = {"planted-scenario": {"verdict": "error", "steps": [],
                                  "error": "setup: guest gave no reply within 60 s (QEMU running)"}}
    assert bugs.verdict(e, FW, setup)[0] == "inconclusive"
    timed = {"planted-scenario": {"verdict": "error", "steps": [{"reply": {"ret": 0}}],
                                  "error": "step 2: no reply within 30 s"}}
    assert bugs.verdict(e, FW, timed)[0] == "present"


def test_verdict_missing_skip_and_not_applicable(tmp_path):
    e = entry(tmp_path)
    assert bugs.verdict(e, FW, {}) == ("inconclusive", "scenario missing")
    skip = {"planted-scenario": {"verdict": "skip", "why": "ovmf backend lacks lan"}}
    assert bugs.verdict(e, FW, skip) == ("not applicable", "ovmf backend lacks lan")
    dbg = entry(tmp_path, VALID.replace('needs = ["ipv6"]', 'needs = ["ipv6", "debug-build"]'))
    assert bugs.verdict(dbg, FW, {})[0] == "not applicable"
    assert bugs.verdict(dbg, {"label": "debug", "variant": "debug", "build_type": "DEBUG"}, {})[1] \
        == "scenario missing"


def test_verdict_crash_deviation_and_fail_entries(tmp_path):
    crash = entry(tmp_path, VALID.replace('kind = "hang"', 'kind = "crash"'))
    c = {"planted-scenario": {"verdict": "error", "error": "guest died",
                              "crash": {"kind": "assert", "summary": "ASSERT [TcpDxe] SockImpl.c(612)"}}}
    assert bugs.verdict(crash, FW, c) == ("present", "ASSERT [TcpDxe] SockImpl.c(612)")
    dev = entry(tmp_path, VALID.replace('kind = "hang"', 'kind = "api"\npresent-when = "deviation:step 1"'))
    used = {"planted-scenario": {"verdict": "pass", "deviations": ["step 1 ret: -3 instead of -2 (DnsDxe ...)"]}}
    st, ev = bugs.verdict(dev, FW, used)
    assert st == "present" and "instead of -2" in ev
    other = {"planted-scenario": {"verdict": "pass", "deviations": ["step 4 errno: 0 instead of 104 (slirp)"]}}
    assert bugs.verdict(dev, FW, other)[0] == "absent"
    # the deviation not listed for this firmware: the same behaviour fails the step
    dev2 = entry(tmp_path, VALID.replace('kind = "hang"', 'kind = "api"\npresent-when = "deviation:^step 1 "\n'
                                                          'also-fail = "^step 1 \\\\(resolve"'))
    failed = {"planted-scenario": {"verdict": "fail",
                                   "problems": ["step 1 (resolve, line 5): ret: expected -2, got -3"]}}
    assert bugs.verdict(dev2, FW, failed)[0] == "present"
    assert bugs.verdict(dev, FW, failed)[0] == "inconclusive"
    fail = entry(tmp_path, VALID.replace('kind = "hang"', 'kind = "wire"\npresent-when = "fail:wire"'))
    f1 = {"planted-scenario": {"verdict": "fail", "problems": ["step 5 (wire, line 7): wire field tcp.seq_raw "
                                                                "random: FAILED repeated differences"]}}
    assert bugs.verdict(fail, FW, f1)[0] == "present"
    f2 = {"planted-scenario": {"verdict": "fail", "problems": ["step 1 (connect, line 2): ret: expected 0, got -1"]}}
    st, ev = bugs.verdict(fail, FW, f2)
    assert st == "inconclusive" and "failed otherwise" in ev


def test_several_scenarios_combine(tmp_path):
    e = entry(tmp_path, VALID.replace('scenarios = ["planted-scenario"]', 'scenarios = ["a", "b"]'))
    ok = {"verdict": "pass", "deviations": []}
    hang = {"verdict": "error", "error": "x", "crash": {"kind": "hang", "summary": "hang"}}
    assert bugs.verdict(e, FW, {"a": ok, "b": ok})[0] == "absent"
    assert bugs.verdict(e, FW, {"a": ok, "b": hang})[0] == "present"
    assert bugs.verdict(e, FW, {"a": ok})[0] == "inconclusive"  # b missing
    assert bugs.verdict(e, FW, {}) == ("inconclusive", "scenario missing")  # both: said once


def test_statistical_judgement_reuses_wire_checks():
    # TcpDxe's ISNs: a global counter with a fixed increment -> present
    isns = [(0x12340000 + 64000 * i) % (1 << 32) for i in range(32)]
    st, why = bugs.judge_values(isns, "random:32")
    assert st == "present" and "repeated differences" in why
    # sequential ephemeral ports (CVE-2023-45237) fail `random` and pass not-stride-constant's inverse
    assert bugs.judge_values(list(range(49152, 49152 + 20)), "random:16")[0] == "present"
    # well-mixed values (fixed seed: deterministic) -> absent
    rnd = random.Random(7)
    assert bugs.judge_values([rnd.getrandbits(32) for _ in range(64)], "random:32")[0] == "absent"
    assert bugs.judge_values([1, 2, 3])[0] == "inconclusive"


def test_table_renders_every_cell_with_evidence(tmp_path):
    e = entry(tmp_path)
    fws = [FW, FW_NOSEC, {"label": "installed", "variant": None, "build_type": "RELEASE"}]
    v = {(e.id, "debian"): ("absent", "scenario passed"),
         (e.id, "no-security-patches"): ("present", "hang: silent for 30 s")}
    text = bugs.table([e], fws, v)
    head, row = text.splitlines()[:2]
    assert head.split()[:4] == ["bug", "debian", "no-security-patches", "installed"]
    assert row.split() == [e.id, "absent", "present", "inconclusive"]
    assert "CVE-2099-0001 on no-security-patches: present: hang: silent for 30 s" in text
    assert "CVE-2099-0001 on installed: inconclusive: not run" in text
    # a result the entry does not expect is marked
    v[(e.id, "debian")] = ("present", "hang")
    text = bugs.table([e], fws, v)
    assert "present*" in text and "(expected absent)" in text
    assert bugs.unexpected([e], fws, v) == [(e.id, "debian", "present", "absent", "hang")]
    v[(e.id, "debian")] = ("inconclusive", "scenario missing")
    assert bugs.unexpected([e], fws, v) == []


def test_firmware_info_reads_a_builds_identity(tmp_path):
    (tmp_path / "identity.json").write_text('{"variant": "no-security-patches", "build_type": "RELEASE", '
                                            '"sha256": {"OVMF_CODE_4M.fd": "ab"}}')
    (tmp_path / "firmware.json").write_text("{}")
    info = bugs.firmware_info(str(tmp_path / "firmware.json"))
    assert info["label"] == "no-security-patches" and info["sha256"] == "ab"
    assert bugs.firmware_info(None)["label"] == "installed"
