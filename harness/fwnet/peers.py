"""Host peers for the linux and ovmf backends, bound to 127.0.0.1 only.

Kinds: echo, discard, source (bytes=, close=), reset (after bytes=), refuse
(a port nobody listens on), stall (accepts, never reads), connect (connects in to the guest when a step
says so, sends bytes=, closes), udpecho, http (GET /N answers N bytes).
Data a peer sends follows the agents' pattern: byte i = (i*7 + i/256) & 255,
so digests agree across backends. Threads are daemons and stop with stop().
"""
import socket
import struct
import threading

LOOPBACK = "127.0.0.1"


_PERIOD = 65536  # (i*7 + i/256) & 255 repeats every 64 KiB
_BLOCK = bytes(((i * 7 + i // 256) & 255) for i in range(2 * _PERIOD))


def pattern(n, off=0):
    """Bytes off..off+n of the stream. Built from one precomputed period:
    a byte-by-byte generator took ~10 s of host CPU for 64 MiB, time that a
    source peer spent before its first byte, inside every measured receive."""
    start = off % _PERIOD
    if start + n <= len(_BLOCK):
        return _BLOCK[start:start + n]
    return (_BLOCK[start:_PERIOD] + _BLOCK[:_PERIOD] * ((n - (_PERIOD - start)) // _PERIOD + 1))[:n]


class PeerError(Exception):
    pass


class HostPeer:
    def __init__(self, spec, bind=LOOPBACK):
        self.spec = spec
        self.bind = bind  # 127.0.0.1, or the tap network's host side inside fwnet's namespace
        self.kind = spec.kind
        self.port = 0  # host port (listening peers)
        self._socks = []
        self._stop = threading.Event()
        self.errors = []

    # ---- lifetime ----
    def start(self):
        k = self.kind
        if k in ("echo", "discard", "source", "reset", "http", "stall"):
            ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind((self.bind, 0))
            ls.listen(16)
            ls.settimeout(0.2)
            self.port = ls.getsockname()[1]
            self._socks.append(ls)
            threading.Thread(target=self._accept_loop, args=(ls,), daemon=True).start()
        elif k == "udpecho":
            us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            us.bind((self.bind, 0))
            us.settimeout(0.2)
            self.port = us.getsockname()[1]
            self._socks.append(us)
            threading.Thread(target=self._udp_loop, args=(us,), daemon=True).start()
        elif k == "refuse":
            s = socket.socket()
            s.bind((self.bind, 0))
            self.port = s.getsockname()[1]
            s.close()  # nothing listens there now
        elif k in ("connect", "blackhole"):
            pass
        else:
            raise PeerError("peer kind %s has no host implementation" % k)
        return self

    def stop(self):
        self._stop.set()
        for s in self._socks:
            try:
                s.close()
            except OSError:
                pass

    # ---- actions from steps ----
    def action(self, what, target_port=None, target_addr=LOOPBACK):
        if self.kind == "connect" and what == "connect":
            c = socket.create_connection((target_addr, target_port), timeout=10)
            self._socks.append(c)
            if self.spec.bytes:
                c.sendall(pattern(self.spec.bytes))
            if self.spec.close:
                c.shutdown(socket.SHUT_WR)
            return
        raise PeerError("peer %s (%s) has no action %r" % (self.spec.name, self.kind, what))

    # ---- servers ----
    def _accept_loop(self, ls):
        while not self._stop.is_set():
            try:
                c, _ = ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._socks.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(None)
            k, spec = self.kind, self.spec
            if k == "echo":
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    c.sendall(d)
            elif k == "discard":
                while c.recv(65536):
                    pass
            elif k == "source":
                if spec.bytes:
                    c.sendall(pattern(spec.bytes))
                if not spec.close:
                    while c.recv(65536):
                        pass
            elif k == "reset":
                got = 0
                while got < max(spec.bytes, 1):
                    d = c.recv(65536)
                    if not d:
                        break
                    got += len(d)
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif k == "http":
                self._http(c)
            elif k == "stall":  # accepts, never reads: the sender's window closes
                self._stop.wait()
            c.close()
        except OSError as e:
            if not self._stop.is_set():
                self.errors.append(str(e))

    def _http(self, c):
        req = b""
        while b"\r\n\r\n" not in req:
            d = c.recv(4096)
            if not d:
                return
            req += d
        path = req.split(b" ")[1].decode() if b" " in req else "/"
        try:
            n = int(path.strip("/") or "0")
        except ValueError:
            c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % n)
        c.sendall(pattern(n))

    def _udp_loop(self, us):
        while not self._stop.is_set():
            try:
                d, a = us.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            us.sendto(d, a)
