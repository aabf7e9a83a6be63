"""Which scenario a backend's parallel QEMUs run next (`--jobs N`).

The shards share one queue and each takes the next scenario when it is free,
longest first, so they finish together instead of when a fixed split happens
to. "Longest" is what the scenario took the last time it ran on this machine
(build/cache/scenario-seconds.json, per backend: CTest's cost data is the
model), or, for a scenario never run here, what its steps wait for.
"""
import json
import os
import threading

from . import build

HISTORY = os.path.join(build.ROOT, "build", "cache", "scenario-seconds.json")

# What a step waits for when its own arguments do not say: OVMF's figures.
# Dhcp4Dxe collects offers for about 3 s before it selects one; DnsDxe's
# retry interval has a 2 s floor; a bulk transfer moves a few MB/s under TCG.
DHCP_S = 3.6
RESOLVE_S = 2.0
BULK_BYTES_PER_S = 4e6
STEP_S = 0.005
SCENARIO_S = 0.15


def _int(v, default=0):
    try:
        return int(str(v), 0)
    except ValueError:
        return default


def estimate(sc):
    """Seconds a scenario's steps wait for, from the steps alone."""
    secs = SCENARIO_S
    for st in getattr(sc, "steps", []):
        a = st.args
        secs += STEP_S
        if st.op == "sleep":
            secs += _int(a.get("ms")) / 1000.0
        elif st.op == "net" and a.get("mode") == "dhcp":
            t = _int(a.get("timeout_ms"), 20000) / 1000.0
            secs += t if st.expect.get("errno") == "ETIMEDOUT" else min(t, DHCP_S)
        elif st.op == "resolve":
            secs += RESOLVE_S
        elif st.op.startswith("bulk"):
            secs += _int(a.get("bytes")) / BULK_BYTES_PER_S
    if getattr(sc, "net", {}).get("mode") == "dhcp":
        secs += DHCP_S
    return secs


def load_history(path=None):
    try:
        with open(path or HISTORY) as f:
            d = json.load(f)
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def save_history(backend, cases, path=None):
    """Remember each scenario's seconds (the ones that ran) for the next order."""
    path = path or HISTORY
    d = load_history(path)
    mine = d.setdefault(backend, {})
    for c in cases:
        if isinstance(c.get("seconds"), (int, float)) and c.get("verdict") in ("pass", "fail"):
            mine[c["name"]] = c["seconds"]
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(d, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache: the next run orders by estimate instead


def order(scens, backend, history=None):
    """Longest first (ties by name): seconds from history, else the estimate."""
    seen = (history if history is not None else load_history()).get(backend, {})

    def cost(sc):
        s = seen.get(sc.name)
        return s if isinstance(s, (int, float)) else estimate(sc)
    return sorted(scens, key=lambda sc: (-cost(sc), sc.name))


class Queue:
    """The scenarios one backend's shards share; thread-safe."""

    def __init__(self, scens):
        self.all = list(scens)
        self._left = list(scens)
        self._lock = threading.Lock()

    def take(self):
        """The next scenario, or None when every one was taken."""
        with self._lock:
            return self._left.pop(0) if self._left else None

    def take_where(self, pred):
        """Every scenario left for which pred is true, taken at once (the
        first shard to ask records them; the others get none)."""
        with self._lock:
            got = [sc for sc in self._left if pred(sc)]
            self._left = [sc for sc in self._left if not pred(sc)]
            return got

    def empty(self):
        with self._lock:
            return not self._left

    def drain(self):
        """What no shard took (every shard stopped early): taken now."""
        with self._lock:
            got, self._left = self._left, []
            return got
