"""SIGTERM during a sharded OVMF run (--jobs 2): every QEMU and helper
(netsim, dnsmasq, peers) of every shard is gone within 2 s, the harness
itself exits 130, and the scenarios that finished are in results.json."""
import json
import os
import signal
import subprocess
import threading
import time

from conftest import ROOT


def descendants(pid):
    """pid's process tree (pids), from /proc's parent links."""
    parent = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        parent[int(p)] = int(st[st.rfind(")") + 2:].split()[1])
    out, todo = set(), [pid]
    while todo:
        q = todo.pop()
        for c, pp in parent.items():
            if pp == q and c not in out:
                out.add(c)
                todo.append(c)
    return out


def running(pid):
    """Alive and not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rfind(")") + 2:].split()[0] != "Z"


def test_sigterm_stops_every_shard_within_2s(built, tmp_path):
    out = tmp_path / "o"
    p = subprocess.Popen(["/usr/bin/python3", "harness/fwnet.py", "run", "--backend", "ovmf", "core", "--jobs", "2",
                          "--no-build", "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(p.stdout.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 180
    # the first scenario finished on one shard; the other shard is mid-run
    while time.monotonic() < deadline and p.poll() is None and not any(" PASS" in l or " FAIL" in l for l in lines):
        time.sleep(0.05)
    text = "".join(lines)
    assert p.poll() is None, text
    assert " PASS" in text or " FAIL" in text, "no scenario finished within 180 s:\n" + text
    tree = descendants(p.pid)
    qemus = [c for c in tree if "qemu-system" in open("/proc/%d/cmdline" % c, "rb").read().decode(errors="replace")
             ] if tree else []
    assert len(qemus) >= 2, "both shards' QEMUs should run: %s" % tree
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    while time.monotonic() - t0 < 5 and (p.poll() is None or any(running(c) for c in tree)):
        time.sleep(0.02)
    took = time.monotonic() - t0
    left = [c for c in tree if running(c)]
    p.wait(timeout=10)
    reader.join(timeout=10)
    text = "".join(lines)
    print("stopped in %.2f s" % took)
    assert not left, "still running after SIGTERM: %s" % left
    assert took <= 2.0, "the run took %.2f s to stop" % took
    assert p.returncode == 130 and "interrupted" in text, text
    run = json.load(open(out / "results.json"))
    assert run.get("interrupted") is True
    done = [c for b in run["backends"] for c in b["scenarios"]]
    assert any("seconds" in c for c in done), done
    assert "interrupted" in (out / "summary.txt").read_text()
