"""Backends whose agent is a host process talking lines on stdin/stdout:

  linux  the agent as a Linux process, peers on loopback (the reference)
  fakes  the agent over efi-net on the host fake firmware (virtual time),
         peers on the fake LAN
"""
import os
import queue
import subprocess
import threading

from . import build
from .backend import GUEST_STATIC, Backend, BackendError, parse_reply
from .peerset import start_peer


class LineProcess:
    """An agent process talking lines on stdin/stdout, with timeouts."""

    def __init__(self, argv, log_path, cwd=None):
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, bufsize=1, cwd=cwd,
                                     start_new_session=True)
        self.q = queue.Queue()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        for line in self.proc.stdout:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def ask(self, line, timeout):
        self.log.write("> %s\n" % line)
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise BackendError("agent exited (status %s)" % self.proc.poll())
        try:
            r = self.q.get(timeout=timeout)
        except queue.Empty:
            raise BackendError("agent gave no reply within %d s (hang)" % timeout)
        if r is None:
            raise BackendError("agent exited (status %s)" % self.proc.wait())
        self.log.write("< %s\n" % r)
        self.log.flush()
        return r

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class LinuxBackend(Backend):
    name = "linux"
    supports = {"peer:echo", "peer:discard", "peer:source", "peer:reset", "peer:refuse",
                "peer:connect", "peer:udpecho", "peer:http", "peer:stall", "udp", "peer:rump-http",
                "peer:rump-source", "peer:rump-discard", "peer:rump-echo"}

    def start(self, scenarios, run_dir):
        self.run_dir = run_dir
        agent = build.agent_path("fwnet-agent-linux")
        if not os.path.exists(agent):
            raise BackendError("linux agent not built: %s" % agent)
        self.p = LineProcess([agent], os.path.join(run_dir, "agent-linux.log"))
        self._ask = self.p.ask
        self.facts = parse_reply(self._ask("hello", 10))

    def begin(self, sc):
        self.peers = {}
        for n, p in sc.peers.items():
            self.peers[n] = start_peer(p, self.run_dir, self.opts, self)
        return {n: ("127.0.0.1", hp.port) for n, hp in self.peers.items()}

    def peer_action(self, sc, name, action):
        p = self.peers[name]
        p.action(action, sc.peers[name].port)

    def end(self, sc, fds):
        try:
            super().end(sc, fds)
        finally:
            for p in self.peers.values():
                p.stop()

    def stop(self):
        try:
            self._ask("quit", 5)
        except BackendError:
            pass
        self.p.close()


class FakesBackend(Backend):
    name = "fakes"
    supports = {"peer:echo", "peer:discard", "peer:source", "peer:reset", "peer:refuse",
                "peer:connect", "peer:udpecho", "peer:stall", "udp", "routing", "quirks",
                "peer:blackhole"}

    def start(self, scenarios, run_dir):
        agent = build.agent_path("fwnet-agent-fakes")
        if not os.path.exists(agent):
            raise BackendError("fakes agent not built: %s" % agent)
        self.p = LineProcess([agent], os.path.join(run_dir, "agent-fakes.log"))
        self._ask = self.p.ask
        self.next_port = 7000

    def begin(self, sc):
        r = self.execute(self.open_line(sc), 30)
        if r.get("ret") != 0:
            raise BackendError("open failed: %s" % r)
        if not self.facts:
            self.facts = self.execute("hello", 10)
        mode = sc.net.get("mode", "static")
        if mode != "none":
            r = self.execute("net " + (GUEST_STATIC if mode == "static" else "mode=dhcp timeout_ms=10000"), 60)
            if r.get("ret") != 0:
                raise BackendError("net failed: %s" % r)
        addrs = {}
        for n, p in sc.peers.items():
            kind = {"refuse": "host"}.get(p.kind, p.kind)
            if p.kind == "connect":
                addrs[n] = ("10.0.2.100", p.port)
                continue
            self.next_port += 1
            ip = "10.0.2.%d" % (150 + self.next_port % 100) if p.kind == "blackhole" else "10.0.2.100"
            r = self.execute("peer kind=%s ip=%s port=%d bytes=%d close=%d"
                             % (kind, ip, self.next_port, p.bytes, int(p.close)), 10)
            if r.get("ret") != 0:
                raise BackendError("fake LAN has no peer of kind %s: %s" % (p.kind, r))
            addrs[n] = (ip, self.next_port)
        self.addrs = addrs
        return addrs

    def peer_action(self, sc, name, action):
        p = sc.peers[name]
        if action != "connect" or p.kind != "connect":
            raise BackendError("peer %s: no action %s" % (name, action))
        self.execute("peer kind=connect port=%d bytes=%d close=%d" % (p.port, p.bytes, int(p.close)), 10)

    def stop(self):
        try:
            r = parse_reply(self._ask("quit", 30))
            self.extra["leaks"] = r.get("leaks", "?")
        except BackendError as e:
            self.extra["leaks"] = "unknown (%s)" % e
        self.p.close()
