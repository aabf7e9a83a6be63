"""fwnet bench-rump: figures for the rump-hw image, each beside the same
figure for a Linux-hosted reference peer measured in the same run.

  boot       QEMU start to the image's "listening" line (host clock), and the
             image's own uptime at that line
  size       the ELF file, and its memory footprint (load + bss)
  memory     the smallest -m (MiB) that reaches "listening", by bisection
  http       requests/s for GET /100 (a new connection per request, as the
             harness's http peer answers), sequential and 16 concurrent
  tcp        MB/s host->image (discard, port 9) and image->host (source, 19)

The image is reached over a tap device in fwnet's own network namespace
when the harness runs as root (the host's TCP stack talks to lwIP directly),
else through slirp's hostfwd on 127.0.0.1 (restrict=on), whose listening
socket has a backlog of 1: concurrent connects then wait for SYN
retransmissions, and the result says so. The reference peers are the
harness's own Python peers on loopback, with no emulator in the path: the
ratio says what the emulated machine costs.
"""
import concurrent.futures
import json
import os
import socket
import time
import types

from . import peers, qemu, rump, tapnet

PORTS = {"http": 80, "discard": 9, "source": 19, "echo": 7}


class BenchError(Exception):
    pass


def _boot(image, append, accel, nic, mem, d, fwd=True, tap=False, snaplen=0):
    """Boot; returns (qemu, console, {service: (host, port)}, seconds to
    'listening', the listening line's fields)."""
    os.makedirs(d, exist_ok=True)
    sock = os.path.join(d, "serial.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    hostports = {k: rump.free_port() for k in PORTS} if fwd and not tap else {}
    cmd = qemu.make_cmdline(qemu.kernel_boot(image, append), accel, nic, [],
                            [(hostports[k], PORTS[k]) for k in hostports],
                            os.path.join(d, "capture.pcap"), sock, mem=mem, tap=tap, snaplen=snaplen)
    t0 = time.monotonic()
    q = qemu.Qemu(cmd, d)
    con = None
    try:
        con = rump.Console(q, sock, os.path.join(d, "serial.log"))
        m = con.wait_for(rump.READY_RE, 20, "'listening' line")
        ready = time.monotonic() - t0
    except qemu.QemuError:
        if con:
            con.close()
        q.stop(grace=0)
        raise
    line = m.group(0).decode(errors="replace")
    kv = dict(w.split("=", 1) for w in line.split() if "=" in w)
    if tap:
        addrs = {k: (qemu.TAP_GUEST, p) for k, p in PORTS.items()}
    else:
        addrs = {k: ("127.0.0.1", p) for k, p in hostports.items()}
    return q, con, addrs, ready, kv


def _http_get(addr, path="/100"):
    s = socket.create_connection(addr, timeout=10)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % path.encode())
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    if not data.startswith(b"HTTP/1.1 200"):
        raise BenchError("HTTP GET %s on %s:%d: %r" % (path, addr[0], addr[1], data[:60]))
    return len(data)


def http_rate(addr, n, conc):
    t0 = time.monotonic()
    if conc == 1:
        for _ in range(n):
            _http_get(addr)
    else:
        with concurrent.futures.ThreadPoolExecutor(conc) as ex:
            list(ex.map(lambda _: _http_get(addr), range(n)))
    return n / (time.monotonic() - t0)


def tcp_to(addr, nbytes):
    """MB/s sending nbytes; timed until the peer closes after our FIN
    (everything was consumed)."""
    s = socket.create_connection(addr, timeout=30)
    buf = peers.pattern(65536)
    t0 = time.monotonic()
    sent = 0
    while sent < nbytes:
        sent += s.send(buf[:min(len(buf), nbytes - sent)])
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    dt = time.monotonic() - t0
    s.close()
    return nbytes / dt / 1e6


def tcp_from(addr, nbytes):
    s = socket.create_connection(addr, timeout=60)
    got = 0
    t0 = None  # from the first byte: the reference peer prepares its data first
    while got < nbytes:
        d = s.recv(1 << 20)
        if not d:
            break
        if t0 is None:
            t0 = time.monotonic()
        got += len(d)
    dt = time.monotonic() - (t0 or 0)
    s.close()
    if got < nbytes:
        raise BenchError("source on %s:%d closed after %d of %d bytes" % (addr[0], addr[1], got, nbytes))
    return got / dt / 1e6


def image_footprint(image):
    with open(image, "rb") as f:
        data = f.read(8192)
    for i in range(0, len(data) - 31, 4):
        if int.from_bytes(data[i:i + 4], "little") == 0x1BADB002:
            w = [int.from_bytes(data[i + 4 * k:i + 4 * k + 4], "little") for k in range(8)]
            if w[1] & (1 << 16):
                return {"load_kib": (w[5] - w[4]) // 1024, "bss_kib": (w[6] - w[5]) // 1024}
    return {}


def min_memory(image, append, accel, nic, d, log):
    """Smallest -m in MiB that reaches 'listening' (bisection over 2..32)."""
    lo, hi = 1, 32  # lo fails (assumed), hi works (checked first)
    tried = {}

    def works(m):
        try:
            q, con, _, _, _ = _boot(image, append, accel, nic, m, os.path.join(d, "mem-%d" % m), fwd=False)
        except qemu.QemuError:
            tried[m] = False
            return False
        con.close()
        q.stop(grace=0)
        tried[m] = True
        return True

    if not works(hi):
        raise BenchError("the image does not reach 'listening' in 32 MiB")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if works(mid):
            hi = mid
        else:
            lo = mid
    log("  memory: smallest -m reaching 'listening': %d MiB (tried %s)" % (hi, ", ".join(
        "%d%s" % (m, "+" if ok else "-") for m, ok in sorted(tried.items()))))
    return hi


def run(opts, log, out):
    os.makedirs(out, exist_ok=True)
    image, _ = rump.image_and_append(opts, "agent")
    tap = os.getuid() == 0 and os.environ.get("FWNET_IN_NETNS") == "1"
    svc = " svc=http,discard,source,echo"
    append = rump.RUMP_STATIC + svc
    tap_append = "net=static ip=%s/24 gw=%s%s" % (qemu.TAP_GUEST, qemu.TAP_HOST, svc)
    accel, why = rump.accel_for(opts)
    size = int(opts.size * (1 << 20))
    res = {"image": image, "accel": accel, "accel_why": why, "nic": opts.nic, "append": append,
           "network": "tap in fwnet's namespace" if tap else
           "slirp hostfwd (listen backlog 1: concurrent connects wait for SYN retransmits)",
           "size_mib": opts.size, "requests": opts.requests, "file_kib": os.path.getsize(image) // 1024}
    res.update(image_footprint(image))
    log("fwnet bench-rump: %s (%d KiB file, %s KiB loaded + %s KiB bss), accel %s (%s), nic %s"
        % (image, res["file_kib"], res.get("load_kib"), res.get("bss_kib"), accel, why, opts.nic))
    boots = []
    for k in range(opts.repeat):
        q, con, _, ready, kv = _boot(image, append, accel, opts.nic, 32, os.path.join(out, "boot-%d" % k), fwd=False)
        con.close()
        q.stop(grace=0)
        boots.append((ready, int(kv.get("uptime_ms", -1)), int(kv.get("mem_used_kib", -1))))
    boots.sort()
    res["listening_s"] = [round(b[0], 3) for b in boots]
    res["listening_s_median"] = round(boots[len(boots) // 2][0], 3)
    res["image_uptime_ms_at_listening"] = boots[len(boots) // 2][1]
    res["mem_used_kib_at_listening"] = boots[len(boots) // 2][2]
    res["min_mem_mib"] = min_memory(image, append, accel, opts.nic, os.path.join(out, "mem"), log)

    # Reference peers on loopback (Linux), then the image, in the same run.
    spec = lambda kind, nbytes=0: types.SimpleNamespace(kind=kind, bytes=nbytes, close=True, name=kind, port=0)
    ref = {"http": peers.HostPeer(spec("http")).start(), "discard": peers.HostPeer(spec("discard")).start(),
           "source": peers.HostPeer(spec("source", size)).start()}
    tcpdump = tapnet.tap_up(out, opts.snaplen) if tap else None
    try:
        q, con, hp, _, _ = _boot(image, tap_append if tap else append, accel, opts.nic, 32,
                                 os.path.join(out, "image"), tap=tap, snaplen=opts.snaplen)
    except qemu.QemuError:
        tapnet.tap_down(tcpdump) if tap else None
        raise
    try:
        figs = {}
        for who, ports in (("linux", {k: ("127.0.0.1", p.port) for k, p in ref.items()}), ("image", hp)):
            f = figs.setdefault(who, {})
            _http_get(ports["http"])  # warm up (ARP, first accept)
            f["http_seq_rps"] = round(http_rate(ports["http"], opts.requests, 1), 1)
            f["http_c16_rps"] = round(http_rate(ports["http"], opts.requests * 2, 16), 1)
            f["tcp_in_MBps"] = round(tcp_to(ports["discard"], size), 2)
            f["tcp_out_MBps"] = round(tcp_from(ports["source"], size), 2)
            log("  %-6s http %7.1f req/s sequential, %7.1f req/s at 16 concurrent; tcp %6.2f MB/s in, %6.2f MB/s out"
                % (who, f["http_seq_rps"], f["http_c16_rps"], f["tcp_in_MBps"], f["tcp_out_MBps"]))
        res["figures"] = figs
    finally:
        con.close()
        q.stop(grace=0)
        for p in ref.values():
            p.stop()
        if tap:
            tapnet.tap_down(tcpdump)
    with open(os.path.join(out, "rumpbench.json"), "w") as f:
        json.dump(res, f, indent=1)
    return res


def table_text(res):
    f = res["figures"]
    rows = [("QEMU start to 'listening' (s, median of %d)" % len(res["listening_s"]), "%.3f" % res["listening_s_median"], "-"),
            ("image uptime at 'listening' (ms)", str(res["image_uptime_ms_at_listening"]), "-"),
            ("image file / loaded + bss (KiB)", "%d / %s + %s" % (res["file_kib"], res.get("load_kib"), res.get("bss_kib")), "-"),
            ("guest memory needed (MiB, smallest -m)", str(res["min_mem_mib"]), "-"),
            ("memory in use at 'listening' (KiB)", str(res["mem_used_kib_at_listening"]), "-")]
    for k, label in (("http_seq_rps", "HTTP req/s, sequential (%d)" % res["requests"]),
                     ("http_c16_rps", "HTTP req/s, 16 concurrent (%d)" % (2 * res["requests"])),
                     ("tcp_in_MBps", "TCP MB/s host -> peer (%g MiB)" % res["size_mib"]),
                     ("tcp_out_MBps", "TCP MB/s peer -> host (%g MiB)" % res["size_mib"])):
        rows.append((label, "%.1f" % f["image"][k], "%.1f" % f["linux"][k]))
    w = max(len(r[0]) for r in rows)
    lines = ["%-*s  %12s  %12s" % (w, "rump-hw image (accel %s, %s)" % (res["accel"], res["nic"]), "image", "linux ref"),
             "network to the image: %s; linux reference: Python peers on loopback" % res["network"]]
    lines += ["%-*s  %12s  %12s" % (w, a, b, c) for a, b, c in rows]
    return "\n".join(lines)
