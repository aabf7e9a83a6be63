"""Judging: goldens, normalisation, deviations; whole runs on linux+fakes."""
import json
import os
import shutil
import xml.etree.ElementTree as ET

from conftest import ROOT, fwnet
from fwnet import runner, scenario
from fwnet.runner import StepResult


def fake_results(sc, replies):
    return [StepResult(st, "", r, 0.0) for st, r in zip(sc.steps, replies)]


def test_wrong_golden_fails_with_a_diff_naming_the_step():
    sc = scenario.Scenario(os.path.join(ROOT, "scenarios", "tcp-connect-refused.toml"))
    golden = runner.load_golden(os.path.join(ROOT, "scenarios"), sc)
    replies = [{"status": "ok", "ret": 3, "errno": "0"},
               {"status": "err", "ret": -1, "errno": "ETIMEDOUT"},
               {"status": "ok", "ret": 0, "errno": "0"}]
    v, problems, used = runner.compare(sc, "fakes", fake_results(sc, replies), golden)
    assert v == "fail"
    assert any("step 2 (connect, line 6): errno: golden ECONNREFUSED, got ETIMEDOUT" in p for p in problems)
    # and an inline expectation says the same
    assert any("expected ECONNREFUSED" in p for p in problems)


def test_listed_deviation_only_with_its_value():
    sc = scenario.Scenario(os.path.join(ROOT, "scenarios", "tcp-reset.toml"))
    golden = runner.load_golden(os.path.join(ROOT, "scenarios"), sc)
    ok = [{"status": "ok", "ret": 3, "errno": "0"}, {"status": "ok", "ret": 0, "errno": "0"},
          {"status": "ok", "ret": 4, "errno": "0", "crc": golden[2]["result"]["crc"]},
          {"status": "ok", "ret": 0, "errno": "0", "crc": "00000000", "data": "-"},
          {"status": "ok", "ret": 0, "errno": "0", "crc": "00000000", "data": "-"},
          {"status": "ok", "ret": 0, "errno": "0"}]
    v, problems, used = runner.compare(sc, "ovmf", fake_results(sc, ok), golden, "slirp")
    assert v == "pass", problems
    assert used
    v, problems, _ = runner.compare(sc, "ovmf", fake_results(sc, ok), golden, "tap")  # slirp's, not tap's
    assert v == "fail"
    v, problems, _ = runner.compare(sc, "fakes", fake_results(sc, ok), golden)  # not listed for fakes
    assert v == "fail"
    bad = [dict(r) for r in ok]
    bad[3]["errno"] = "EPIPE"  # not the listed value
    v, problems, _ = runner.compare(sc, "ovmf", fake_results(sc, bad), golden, "slirp")
    assert v == "fail"


def test_absent_field_deviation():
    # DnsDxe gives no addresses at all: matched only by a deviation saying "absent"
    sc = scenario.Scenario(os.path.join(ROOT, "scenarios", "netsim-dns-truncated.toml"))
    gone = [{"status": "err", "ret": -3, "errno": "0"}]
    problems, used = runner.check_expectations(sc, "ovmf", fake_results(sc, gone), "netsim")
    assert not problems and len(used) == 2
    wrong = [{"status": "err", "ret": -3, "errno": "0", "addrs": "10.0.2.100"}]  # some, not none
    problems, _ = runner.check_expectations(sc, "ovmf", fake_results(sc, wrong), "netsim")
    assert any("addrs: expected 10.0.2.100,10.0.2.101,10.0.2.102, got 10.0.2.100" in p for p in problems)
    problems, _ = runner.check_expectations(sc, "fakes", fake_results(sc, gone))  # ovmf's only
    assert len(problems) == 2


def test_normalise_names_descriptors():
    sc = scenario.Scenario(os.path.join(ROOT, "scenarios", "tcp-poll-in-out.toml"))
    step = sc.steps[3]
    out = runner.normalise(step, {"status": "ok", "ret": 1, "errno": "0", "revents": "7:in+out", "us": "55"},
                           {"s": 7})
    assert out == {"status": "ok", "ret": 1, "errno": "0", "revents": "s:in+out"}


def test_run_linux_and_fakes(built, tmp_path):
    out = str(tmp_path / "run")
    r = fwnet("run", "--backend", "linux", "--backend", "fakes", "--no-build", "--out", out)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.load(open(os.path.join(out, "results.json")))
    assert res["isolation"] in ("netns", "restrict-only")
    b = {x["backend"]: x for x in res["backends"]}
    assert b["linux"]["accel"] == "native" and b["fakes"]["accel"] == "virtual-time"
    assert sum(c["verdict"] == "pass" for c in b["fakes"]["scenarios"]) >= 30
    assert b["fakes"]["extra"]["leaks"] == "none"
    root = ET.parse(os.path.join(out, "junit.xml")).getroot()
    assert root.tag == "testsuites" and len(root) == 2
    assert "passed" in r.stdout


def test_wrong_golden_makes_the_run_fail(built, tmp_path):
    d = tmp_path / "sc"
    (d / "golden").mkdir(parents=True)
    shutil.copy(os.path.join(ROOT, "scenarios", "tcp-echo-1.toml"), d)
    g = json.load(open(os.path.join(ROOT, "scenarios", "golden", "tcp-echo-1.json")))
    g[2]["result"]["ret"] = 2  # the golden says send returned 2
    json.dump(g, open(d / "golden" / "tcp-echo-1.json", "w"))
    r = fwnet("run", "--backend", "fakes", "--no-build", "--scenario-dir", str(d), "--out", str(tmp_path / "o"))
    assert r.returncode == 1
    assert "step 3 (send, line 7): ret: golden 2, got 1" in r.stdout


def test_missing_golden_and_bad_scenario_are_clear(built, tmp_path):
    d = tmp_path / "sc"
    d.mkdir()
    shutil.copy(os.path.join(ROOT, "scenarios", "tcp-echo-1.toml"), d)
    r = fwnet("run", "--backend", "fakes", "--no-build", "--scenario-dir", str(d), "--out", str(tmp_path / "o"))
    assert r.returncode == 1 and "no golden result" in r.stdout
    (d / "broken.toml").write_text('name = "b"\nsteps = """\nsocket\nwarp 9\n"""\n')
    r = fwnet("run", "--backend", "fakes", "--no-build", "--scenario-dir", str(d))
    assert r.returncode == 2
    assert "broken.toml:4: unknown operation 'warp'" in r.stderr


class _HangingBackend:
    """A backend whose agent stops answering at one step (as lwIP's recv()
    on a never-connected socket does)."""
    name, net = "rump", "slirp"

    def __init__(self, hang_at):
        self.hang_at, self.n, self.lines = hang_at, 0, []

    def begin(self, sc):
        return {}

    def execute(self, line, timeout=30, guest=1):
        from fwnet.backends import BackendError
        self.n += 1
        self.lines.append((line, timeout))
        if self.n == self.hang_at:
            raise BackendError("guest gave no reply within %d s (QEMU running)" % timeout)
        if line.startswith("socket"):
            return {"status": "ok", "ret": 3, "errno": "0"}
        if line.startswith("send"):
            return {"status": "err", "ret": -1, "errno": "ENOTCONN"}
        return {"status": "ok", "ret": 0, "errno": "0"}

    def end(self, sc, fds):
        pass


def test_listed_hang_is_a_result_and_ends_the_scenario():
    sc = scenario.Scenario(os.path.join(ROOT, "scenarios", "tcp-unconnected-io.toml"))
    golden = runner.load_golden(os.path.join(ROOT, "scenarios"), sc)
    be = _HangingBackend(hang_at=3)  # recv, the listed hang
    results, err = runner.run_scenario(be, sc, 30)
    assert err is None and be.wedged  # the guest must be restarted before the next scenario
    assert [r.reply.get("status") for r in results] == ["ok", "err", "hang"]
    assert be.lines[-1][1] == 5  # a listed hang waits 5 s, not the step timeout
    v, problems, used = runner.compare(sc, "rump", results, golden, "slirp")
    assert v == "pass", problems
    assert any("hang" in u for u in used)
    # the same hang on a backend that does not list it is an error naming the step
    be = _HangingBackend(hang_at=3)
    be.name = "ovmf"
    results, err = runner.run_scenario(be, sc, 30)
    assert err and "step 3 (recv, tcp-unconnected-io.toml:7)" in err
    # and a hang at a step not listed as one is an error too
    be = _HangingBackend(hang_at=2)
    results, err = runner.run_scenario(be, sc, 30)
    assert err and "step 2 (send" in err


def test_build_names_an_unknown_tree():
    r = fwnet("build", "nosuch")
    assert r.returncode == 2 and "no such tree: nosuch" in r.stderr
