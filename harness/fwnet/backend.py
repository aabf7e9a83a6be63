"""The backend interface: where a scenario's socket operations run.

Each backend: start(scenarios, run_dir), begin(scenario) -> peer addresses,
execute(line, timeout) -> reply dict, peer_action(...), end(...), stop().
The agent answers every request with one line: a status word and key=value
fields (agent/PROTOCOL.md).
"""

# The guest's static addressing on slirp's network (and netsim's, and the fake LAN)
GUEST_STATIC = "mode=static addr=10.0.2.15 mask=255.255.255.0 gw=10.0.2.2 dns=10.0.2.3"


class BackendError(Exception):
    """The backend failed (hang, crash): names the component."""


def parse_reply(line):
    words = line.strip().split()
    if not words:
        raise BackendError("empty reply")
    d = {"status": words[0]}
    for w in words[1:]:
        if "=" in w:
            k, v = w.split("=", 1)
            d[k] = v
    if "ret" in d:
        try:
            d["ret"] = int(d["ret"])
        except ValueError:
            pass
    return d


class Backend:
    name = "?"
    accel = None
    supports = set()

    def __init__(self, opts):
        self.opts = opts
        self.facts = {}
        self.extra = {}

    def unsupported(self, sc):
        missing = [r for r in sc.requires if r not in self.supports]
        kinds = {p.kind for p in sc.peers.values()}
        missing += ["peer:" + k for k in kinds if "peer:" + k not in self.supports]
        return missing

    def execute(self, line, timeout=30):
        return parse_reply(self._ask(line, timeout))

    def end(self, sc, fds):
        for fd in sorted(set(fds.values())):
            try:
                self.execute("close fd=%d" % fd, 30)
            except BackendError:
                raise

    def quirks(self, sc):
        """The scenario's quirks and the run's, as `open` takes them."""
        return ",".join(x for x in (sc.quirks, self.opts.quirks) if x) or "-"

    def open_line(self, sc):
        """The agent's `open` request: quirks and the scenario's open options."""
        return "open quirks=%s %s" % (self.quirks(sc), " ".join("%s=%s" % kv for kv in sc.open.items()))
