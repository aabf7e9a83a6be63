"""--jobs N on one backend: the shards share a queue, longest first; every
scenario is run by exactly one shard and reported once, in the run's order,
and what no shard could run (every QEMU failed) is an error naming why."""
import argparse
import json
import os
import threading

from conftest import ROOT
from fwnet import runner, scenario, schedule


def _scen(name):
    return scenario.Scenario(os.path.join(ROOT, "scenarios", name + ".toml"))


def test_estimate_orders_by_what_the_steps_wait_for():
    scens = [_scen(n) for n in ("udp-echo", "netsim-dns-nxdomain", "netsim-dhcp-absent", "netsim-link-flap")]
    est = {sc.name: schedule.estimate(sc) for sc in scens}
    assert est["netsim-dhcp-absent"] >= 4.0  # its DHCP deadline, expected to pass (ETIMEDOUT)
    assert est["netsim-dns-nxdomain"] >= schedule.RESOLVE_S
    assert est["udp-echo"] < 0.5
    names = [sc.name for sc in schedule.order(scens, "ovmf", history={})]
    assert names[0] in ("netsim-dhcp-absent", "netsim-link-flap") and names[-1] == "udp-echo"
    # what a scenario took here last time counts over the estimate
    names = [sc.name for sc in schedule.order(scens, "ovmf", history={"ovmf": {"udp-echo": 30.0}})]
    assert names[0] == "udp-echo"
    # another backend's history does not
    names = [sc.name for sc in schedule.order(scens, "ovmf", history={"rump": {"udp-echo": 30.0}})]
    assert names[-1] == "udp-echo"


def test_history_keeps_what_ran(tmp_path):
    p = str(tmp_path / "h.json")
    schedule.save_history("ovmf", [{"name": "a", "verdict": "pass", "seconds": 1.5},
                                    {"name": "b", "verdict": "skip"},
                                    {"name": "c", "verdict": "error", "seconds": 90.0}], path=p)
    schedule.save_history("ovmf", [{"name": "d", "verdict": "fail", "seconds": 2.0}], path=p)
    assert schedule.load_history(p) == {"ovmf": {"a": 1.5, "d": 2.0}}
    open(p, "w").write("not json")
    assert schedule.load_history(p) == {}


def _run_sharded(tmp_path, monkeypatch, shard_fn):
    """runner.run with --jobs 2 on ovmf, run_backend replaced by shard_fn."""
    scens = [_scen(n) for n in ("udp-echo", "tcp-echo-1", "netsim-dns-nxdomain", "netsim-dhcp-absent",
                                "tcp-reset", "udp-broadcast")]
    monkeypatch.setattr(schedule, "HISTORY", str(tmp_path / "history.json"))
    monkeypatch.setattr(runner, "run_backend", shard_fn)
    opts = argparse.Namespace(backend=["ovmf"], jobs=2, isolation="netns", net="lan", net_why=None)
    out = str(tmp_path / "out")
    os.makedirs(out)
    run, _, bad = runner.run(opts, scens, out, "stamp", "test", lambda m: None)
    return scens, run, bad


def test_shared_queue_every_scenario_once_in_the_runs_order(tmp_path, monkeypatch):
    taken = {}
    first_taken = threading.Event()

    def shard(name, fws, opts, run_dir, log, queue=None, share=None):
        k = run_dir[-1]
        res = {"backend": name, "scenarios": [], "run_dir": run_dir}
        if k == "0":  # runs one, then its QEMU cannot restart: the other shard goes on
            sc = queue.take()
            first_taken.set()
            res["scenarios"].append({"name": sc.name, "verdict": "pass", "seconds": 0.1})
            taken.setdefault(k, []).append(sc.name)
            res["restart_error"] = "QEMU exited"
            return res
        first_taken.wait(5)
        while True:
            sc = queue.take()
            if sc is None:
                return res
            taken.setdefault(k, []).append(sc.name)
            res["scenarios"].append({"name": sc.name, "verdict": "pass", "seconds": 0.2})

    scens, run, bad = _run_sharded(tmp_path, monkeypatch, shard)
    names = [c["name"] for c in run["backends"][0]["scenarios"]]
    assert names == [sc.name for sc in scens]  # each once, the run's order
    assert not bad and len(taken["0"]) == 1 and len(taken["1"]) == len(scens) - 1
    # shard 0 took the longest first (the queue's order)
    assert taken["0"][0] == schedule.order(scens, "ovmf", history={})[0].name
    assert "restart_error" not in run["backends"][0]
    hist = json.load(open(tmp_path / "history.json"))
    assert set(hist["ovmf"]) == set(names)
    res = json.load(open(tmp_path / "out" / "results.json"))
    assert [c["name"] for c in res["backends"][0]["scenarios"]] == names


def test_what_no_shard_could_run_is_an_error_naming_why(tmp_path, monkeypatch):
    def shard(name, fws, opts, run_dir, log, queue=None, share=None):
        res = {"backend": name, "scenarios": [], "run_dir": run_dir}
        if run_dir.endswith("0"):
            sc = queue.take()
            res["scenarios"].append({"name": sc.name, "verdict": "pass", "seconds": 0.1})
        res["restart_error"] = "start: OVMF did not boot within 90 s"
        return res

    scens, run, bad = _run_sharded(tmp_path, monkeypatch, shard)
    cases = run["backends"][0]["scenarios"]
    assert [c["name"] for c in cases] == [sc.name for sc in scens]
    assert bad and sum(c["verdict"] == "error" for c in cases) == len(scens) - 1
    assert all(c["error"] == "start: OVMF did not boot within 90 s" for c in cases if c["verdict"] == "error")
