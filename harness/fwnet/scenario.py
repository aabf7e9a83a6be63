"""Scenario files: TOML with a step script that reads like the protocol.

    name = "tcp-echo-1"
    tags = ["core", "tcp"]
    [[peers]]
    name = "echo"
    kind = "echo"
    steps = '''
    s = socket stream
    connect s echo
    send s len=1
    recv s len=1 flags=waitall
    close s
    '''

Each step line is `[NAME =] OP ARGS...`. Socket names bound with `NAME =`
stand for the descriptor in later steps (`connect s echo` -> fd=<s> and the
peer's address and port). A peer name as an argument expands to addr= port=.
Steps starting with `peer` act on host peers (e.g. `peer conn connect`).
Steps `wire`, `inject` and `respond` are the harness's own (not the agent's):
wire assertions judged on the scenario's capture after the run, and crafted
frames put on the LAN (README: "Wire assertions and crafted packets").
`#` starts a comment outside quotes only.
Errors name the file and line.
"""
import os
import re
import shlex
import tomllib

from . import wire

PEER_KINDS = {"echo", "discard", "source", "reset", "refuse", "connect", "udpecho", "http", "rump-http",
              "rump-source", "rump-discard", "rump-echo",
              "blackhole", "stall"}
AGENT_OPS = {"socket", "bind", "listen", "accept", "connect", "send", "sendto", "recv",
             "recvfrom", "bulkrecv", "bulksend", "bulkecho", "fill", "rr", "shutdown", "close", "sockname", "peername",
             "setsockopt", "getsockopt", "nonblock", "select", "poll", "resolve", "sleep", "stats", "net"}
# Positional arguments: which key each position fills.
POSITIONAL = {
    "socket": ["type"], "connect": ["fd", "@peer"], "bind": ["fd"], "listen": ["fd"],
    "accept": ["fd"], "send": ["fd"], "sendto": ["fd", "@peer"], "recv": ["fd"],
    "recvfrom": ["fd"], "bulkrecv": ["fd"], "bulksend": ["fd"], "bulkecho": ["fd"], "fill": ["fd"], "shutdown": ["fd", "how"],
    "close": ["fd"], "sockname": ["fd"], "peername": ["fd"], "setsockopt": ["fd", "opt", "val"],
    "getsockopt": ["fd", "opt"], "nonblock": ["fd", "on"], "resolve": ["name"],
    "sleep": ["ms"], "stats": ["fd"], "net": ["mode"],
}
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# steps the harness runs itself: never sent to the agent, never in a golden
LOCAL_OPS = ("wire", "inject", "respond")
# `{SOURCE.PATH[+N|-N]}`: a value known only while the scenario runs
SUBST_RE = re.compile(r"\{([^{}]*)\}")
SUBST_ITEM_RE = re.compile(r"^(match|step(\d+))(?:\.([A-Za-z0-9_.]+))?\s*(?:([+-])\s*(0x[0-9a-fA-F]+|\d+))?$")


class ScenarioError(Exception):
    def __init__(self, path, line, msg):
        super().__init__("%s:%s: %s" % (path, line, msg))
        self.path, self.line, self.msg = path, line, msg


class Step:
    def __init__(self, index, line, op, args, bind, peer_action=None, expect=None):
        self.index, self.line, self.op, self.args, self.bind = index, line, op, args, bind
        self.guest = 1
        self.expect = expect or {}  # inline `=> key=value` checks, on every backend
        self.peer_action = peer_action  # (peer, action) for host-peer steps

    @property
    def label(self):
        return "%d:%s" % (self.index, self.op if not self.peer_action else "peer-" + self.peer_action[1])


class Peer:
    def __init__(self, d, path, line):
        self.name = d.get("name")
        self.kind = d.get("kind")
        if not self.name or not NAME_RE.match(self.name):
            raise ScenarioError(path, line, "peer needs a name (letters, digits, _)")
        if self.kind not in PEER_KINDS:
            raise ScenarioError(path, line, "peer %s: kind must be one of %s" %
                                (self.name, ", ".join(sorted(PEER_KINDS))))
        self.bytes = int(d.get("bytes", 0))
        self.close = bool(d.get("close", True))
        self.port = int(d.get("port", 0))  # guest port for `connect` peers
        self.files = d.get("files", {})


class Scenario:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8")
        try:
            d = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            m = re.search(r"line (\d+)", str(e))
            raise ScenarioError(path, m.group(1) if m else "?", "TOML: %s" % e)
        known = {"name", "description", "tags", "net", "quirks", "peers", "steps", "deviations",
                 "requires", "open", "golden", "netsim", "kind", "firmware", "quirks_fired"}
        for k in d:
            if k not in known:
                raise ScenarioError(path, _line_of(text, k), "unknown key %r" % k)
        self.name = d.get("name") or os.path.splitext(os.path.basename(path))[0]
        self.description = d.get("description", "")
        self.tags = list(d.get("tags", []))
        self.net = d.get("net", {"mode": "static"})
        if self.net.get("mode", "static") not in ("static", "dhcp", "none"):
            raise ScenarioError(path, _line_of(text, "mode"), "net.mode must be static, dhcp or none")
        self.quirks = d.get("quirks", "")
        self.golden = d.get("golden", "")  # another scenario whose golden applies
        self.open = d.get("open", {})
        self.requires = list(d.get("requires", []))
        self.netsim = d.get("netsim", {})  # impair = "...", to-guest/from-guest = "...", rules = [...]
        if self.netsim and "netsim" not in self.requires:
            self.requires.append("netsim")
        self.quirks_fired = list(d.get("quirks_fired", []))  # checked after the run (runner.check_quirks_fired)
        if d.get("kind", "agent") not in ("agent", "firmware"):
            raise ScenarioError(path, _line_of(text, "kind"), "kind must be agent or firmware")
        if d.get("kind") == "firmware":  # the firmware alone, no agent (fwscenario.py)
            from . import fwscenario
            fwscenario.load(self, d, text)
            return
        self.kind = "agent"
        self.peers = {}
        for p in d.get("peers", []):
            peer = Peer(p, path, _line_of(text, p.get("name", "peers")))
            if peer.name in self.peers:
                raise ScenarioError(path, _line_of(text, peer.name), "duplicate peer %s" % peer.name)
            self.peers[peer.name] = peer
        if "steps" not in d:
            raise ScenarioError(path, 1, "no steps")
        self._needs_netsim = False
        self.guests, self.socket_guest = 1, {}
        self.steps = self._parse_steps(d["steps"], text)
        if self.guests > 1 and "guests:%d" % self.guests not in self.requires:
            self.requires.append("guests:%d" % self.guests)
        if self._needs_netsim and "netsim" not in self.requires:
            self.requires.append("netsim")
        self.deviations = {}
        for backend, items in d.get("deviations", {}).items():
            for it in items:
                step = it.get("step")
                if not isinstance(step, int) or not 1 <= step <= len(self.steps):
                    raise ScenarioError(path, _line_of(text, "deviations"),
                                        "deviation for %s names no step (1..%d)" % (backend, len(self.steps)))
                if not it.get("why"):
                    raise ScenarioError(path, _line_of(text, "deviations"),
                                        "deviation for %s step %d needs a 'why'" % (backend, step))
                if not isinstance(it.get("expect"), dict) or not it["expect"]:
                    raise ScenarioError(path, _line_of(text, "deviations"),
                                        "deviation for %s step %d needs expect = { field = value }" % (backend, step))
                self.deviations.setdefault(backend, {})[step] = it

    def _parse_steps(self, script, text):
        base = _line_of(text, "steps")
        steps, names = [], set()
        for off, raw in enumerate(script.splitlines()):
            line_no = base + 1 + off  # TOML drops the newline after the opening quotes
            s = strip_comment(raw).strip()
            if not s:
                continue
            op0 = s.split(None, 1)[0]
            if op0 in LOCAL_OPS:  # before `=>`: filters and expressions are theirs
                steps.append(self._local_step(op0, s, len(steps) + 1, line_no, steps))
                continue
            bind, expect = None, {}
            if "=>" in s:
                s, _, exp = s.partition("=>")
                s = s.strip()
                for w in exp.split():
                    if "=" not in w:
                        raise ScenarioError(self.path, line_no, "expectation %r is not key=value" % w)
                    k, v = w.split("=", 1)
                    expect[k] = v
            m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$", s)
            if m and "=" not in m.group(1):
                bind, s = m.group(1), m.group(2)
            guest = 1
            if s.startswith("@"):
                g, _, s = s.partition(" ")
                if g not in ("@1", "@2") or not s.strip():
                    raise ScenarioError(self.path, line_no, "guest prefix must be @1 or @2, then a step")
                guest = int(g[1:])
                s = s.strip()
                m2 = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$", s)
                if m2:
                    bind, s = m2.group(1), m2.group(2)
            words = s.split()
            op, rest = words[0], words[1:]
            if op == "netsim":
                # a control command for fwnet-netsim, now or `after=MS` in the background
                if len(rest) < 1:
                    raise ScenarioError(self.path, line_no, "netsim step: netsim [after=MS] COMMAND...")
                steps.append(Step(len(steps) + 1, line_no, "netsim", {"text": " ".join(rest)}, None))
                if "netsim" not in self.__dict__.get("requires", []):
                    self._needs_netsim = True
                continue
            if op == "peer":
                if len(rest) < 2 or rest[0] not in self.peers:
                    raise ScenarioError(self.path, line_no, "peer step: peer NAME ACTION (known peers: %s)"
                                        % ", ".join(self.peers) or "none")
                steps.append(Step(len(steps) + 1, line_no, "peer", {}, None, (rest[0], rest[1])))
                continue
            if op not in AGENT_OPS:
                raise ScenarioError(self.path, line_no, "unknown operation %r" % op)
            args, pos = {}, list(POSITIONAL.get(op, []))
            for w in rest:
                if "=" in w:
                    k, v = w.split("=", 1)
                    args[k] = v
                    continue
                if not pos:
                    raise ScenarioError(self.path, line_no, "%s: unexpected argument %r" % (op, w))
                key = pos.pop(0)
                if key == "@peer":
                    if w not in self.peers:
                        raise ScenarioError(self.path, line_no, "%s: unknown peer %r" % (op, w))
                    args["@peer"] = w
                else:
                    args[key] = w
            for k in ("fd",):
                if k in args and not args[k].isdigit():
                    if args[k] not in names:
                        raise ScenarioError(self.path, line_no, "socket %r not created before" % args[k])
            for k in ("r", "w", "fds"):
                if k in args:
                    for part in args[k].split(","):
                        nm = part.split(":")[0]
                        if nm and not nm.isdigit() and nm not in names:
                            raise ScenarioError(self.path, line_no, "socket %r not created before" % nm)
            if "fd" in args and args["fd"] in self.socket_guest and self.socket_guest[args["fd"]] != guest:
                raise ScenarioError(self.path, line_no, "socket %r lives on guest %d"
                                    % (args["fd"], self.socket_guest[args["fd"]]))
            if bind:
                if op not in ("socket", "accept"):
                    raise ScenarioError(self.path, line_no, "only socket and accept name a socket")
                names.add(bind)
                self.socket_guest[bind] = guest
            st = Step(len(steps) + 1, line_no, op, args, bind, expect=expect)
            st.guest = guest
            self.guests = max(self.guests, guest)
            steps.append(st)
        if not steps:
            raise ScenarioError(self.path, base, "no steps")
        return steps


    def _local_step(self, op, s, index, line_no, steps):
        """A `wire`, `inject` or `respond` step, checked now (filters
        compiled, fields looked up, templates and parameters validated)."""
        if op == "wire":
            try:
                a = wire.parse_wire_step(s, self.path, line_no, verify=False)
                checked(("wire", a.lang, a.expr, a.field), a.compile_check)
            except wire.WireError as e:
                raise ScenarioError(self.path, line_no, e.msg)
            if isinstance(a.ref, int) and not (1 <= a.ref < index and steps[a.ref - 1].op not in LOCAL_OPS):
                raise ScenarioError(self.path, line_no, "wire: within ... of step %d: not an earlier agent, "
                                    "peer or netsim step (steps 1..%d)" % (a.ref, index - 1))
            st = Step(index, line_no, "wire", {"text": s}, None)
            st.wire = a
            self._require("capture")
            return st
        from . import craft  # scapy: only for scenarios that craft packets
        try:
            words = shlex.split(s, posix=True)
        except ValueError as e:
            raise ScenarioError(self.path, line_no, "%s: %s" % (op, e))
        words = words[1:]
        args = {"text": s, "link": None, "count": 1, "filter": None, "lang": "bpf"}
        if op == "respond":
            if words and words[0] in wire.LANGS:
                args["lang"], words = wire.LANGS[words[0]], words[1:]
            if not words:
                raise ScenarioError(self.path, line_no, 'respond ["bpf"|tshark] "FILTER" TEMPLATE k=v ... [count=N]')
            args["filter"], words = words[0], words[1:]
            try:
                checked(("respond", args["lang"], args["filter"]),
                        lambda: wire.compile_check(args["lang"], args["filter"]))
            except wire.WireError as e:
                raise ScenarioError(self.path, line_no, "respond: %s" % e.msg)
        while words and (words[0] == "uplink" or words[0].startswith("link=")):
            w = words.pop(0)
            args["link"] = None if w == "uplink" else w[5:]
            if args["link"] is not None and not args["link"].isdigit():
                raise ScenarioError(self.path, line_no, "%s: link=N (a guest port number) or uplink" % op)
        if not words or "=" in words[0]:
            raise ScenarioError(self.path, line_no, "%s: name a packet template (%s)"
                                % (op, ", ".join(sorted(craft.TEMPLATES))))
        tname, params = words[0], {}
        for w in words[1:]:
            if "=" not in w:
                raise ScenarioError(self.path, line_no, "%s %s: parameter %r is not key=value" % (op, tname, w))
            k, v = w.split("=", 1)
            if op == "respond" and k == "count":
                if not v.isdigit() or int(v) < 1:
                    raise ScenarioError(self.path, line_no, "respond: count=N (N >= 1)")
                args["count"] = int(v)
                continue
            params[k] = v
        for k, v in params.items():
            for ref in SUBST_RE.findall(v):
                self._check_subst(op, tname, k, ref, index, line_no, steps)
        if v_unbalanced(params):
            raise ScenarioError(self.path, line_no, "%s %s: unbalanced { } in parameter %s"
                                % (op, tname, v_unbalanced(params)))
        try:
            craft.validate(tname, placeholder_params(tname, params), self.path, line_no)
            if not any(SUBST_RE.search(v) for v in params.values()):
                craft.build(tname, **params)  # fully known now: scapy's own complaints too
        except craft.CraftError as e:
            raise ScenarioError(self.path, line_no, "%s: %s" % (op, e.msg))
        args["template"], args["params"] = tname, params
        self._require("inject")
        if op == "respond":
            self._require("capture")  # the guest's packets as they happen
        return Step(index, line_no, op, args, None)

    def _check_subst(self, op, tname, key, ref, index, line_no, steps):
        m = SUBST_ITEM_RE.match(ref.strip())
        where = "%s %s: %s={%s}" % (op, tname, key, ref)
        if not m:
            raise ScenarioError(self.path, line_no, "%s: substitution is {match.LAYER.FIELD[+N]}, "
                                "{match} or {stepN.FIELD[+N]}" % where)
        src, n, path = m.group(1), m.group(2), m.group(3)
        if src == "match":
            if op != "respond":
                raise ScenarioError(self.path, line_no, "%s: {match...} only in respond steps" % where)
            if path:
                layer, _, field = path.partition(".")
                cls = match_layer(layer)
                if cls is None:
                    raise ScenarioError(self.path, line_no, "%s: unknown layer %r (e.g. ether, ip, ipv6, tcp, "
                                        "udp, icmp, dns, bootp)" % (where, layer))
                if field and field not in {f.name for f in cls.fields_desc}:
                    raise ScenarioError(self.path, line_no, "%s: layer %s has no field %r (fields: %s)"
                                        % (where, layer, field, ", ".join(f.name for f in cls.fields_desc)))
            return
        n = int(n)
        if not 1 <= n < index or steps[n - 1].op in LOCAL_OPS:
            raise ScenarioError(self.path, line_no, "%s: step %d is not an earlier agent step" % (where, n))
        if not path:
            raise ScenarioError(self.path, line_no, "%s: name a reply field, e.g. {step%d.port}" % (where, n))

    def _require(self, cap):
        if cap not in self.requires:
            self.requires.append(cap)


CHECK_CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "build", "cache", "wire-checked.json")
_checked = None


def checked(key, check):
    """check() (a filter compiled by tcpdump/tshark, a field looked up),
    skipped when it passed before with the same tools: loading every
    scenario must not start a tshark per wire step. Failures are not kept."""
    import json
    global _checked
    tools = []
    for t in (wire.TCPDUMP, wire.TSHARK):
        try:
            import shutil
            tools.append(str(os.stat(shutil.which(t) or t).st_mtime))
        except (OSError, TypeError):
            tools.append("-")
    k = "\t".join(tools + [str(x) for x in key])
    if _checked is None:
        try:
            with open(CHECK_CACHE) as f:
                _checked = set(json.load(f))
        except (OSError, ValueError):
            _checked = set()
    if k in _checked:
        return
    check()
    _checked.add(k)
    try:
        os.makedirs(os.path.dirname(CHECK_CACHE), exist_ok=True)
        tmp = CHECK_CACHE + ".%d" % os.getpid()
        with open(tmp, "w") as f:
            json.dump(sorted(_checked), f)
        os.replace(tmp, CHECK_CACHE)
    except OSError:
        pass


def strip_comment(line):
    """The line up to a `#` that is outside '...' and "..." quotes."""
    q, esc = None, False
    for i, c in enumerate(line):
        if esc:
            esc = False
        elif q:
            if c == "\\" and q == '"':
                esc = True
            elif c == q:
                q = None
        elif c in "'\"":
            q = c
        elif c == "#":
            return line[:i]
    return line


def v_unbalanced(params):
    for k, v in params.items():
        if SUBST_RE.sub("", v).count("{") or SUBST_RE.sub("", v).count("}"):
            return k
    return None


def match_layer(name):
    """The scapy layer class a `{match.NAME...}` names (case-insensitive:
    ether, ip, ipv6, tcp, udp, icmp, dns, bootp, dhcp6...)."""
    from . import craft
    for k, v in craft.LAYERS.items():
        if k.lower() == name.lower():
            return v
    return None


# What a substituted parameter is checked with before the run, by type
_PLACEHOLDER = {"_int": "0", "_bool": "0", "_bytes": "", "_list": "", "_packet": "4500001c000000004011000000000000"
                "00000000" + "0" * 16}


def placeholder_params(tname, params):
    """params with every `{...}` value replaced by a dummy of its type, so
    that validate() can check names, presence and literal values."""
    from . import craft
    t = craft.TEMPLATES.get(tname)
    out = {}
    for k, v in params.items():
        if t is not None and SUBST_RE.search(v):
            conv = t.types.get(k)
            out[k] = _PLACEHOLDER.get(getattr(conv, "__name__", ""), "0" if conv else "x")
        else:
            out[k] = v
    return out


def _line_of(text, key):
    for i, line in enumerate(text.splitlines(), 1):
        if re.match(r"^\s*\[*\s*%s\b" % re.escape(str(key)), line) or ('"%s"' % key) in line:
            return i
    return 1


def load_dir(d, names=None):
    out = []
    for f in sorted(os.listdir(d)):
        if f.endswith(".toml"):
            s = Scenario(os.path.join(d, f))
            if not names:
                # firmware-level scenarios (kind = "firmware": a boot of their own
                # each, the bug catalogue's) run by name, by tag or from fwnet bugs
                if getattr(s, "fw_steps", None) is None:
                    out.append(s)
            elif s.name in names or any(t in names for t in s.tags):
                out.append(s)
    if names:
        found = {s.name for s in out} | {t for s in out for t in s.tags}
        missing = [n for n in names if n not in found]
        if missing:
            raise ScenarioError(d, "-", "no scenario or tag named %s" % ", ".join(missing))
    return out
