"""Network isolation: the harness moves itself into a fresh network namespace
that has only loopback, before it starts any thread, peer or QEMU; so even a
mistake cannot send a packet off this machine (network-safety.md).

As root: unshare(CLONE_NEWNET). Otherwise: a user namespace too. When neither
works, runs continue with restrict=on alone, and the report says so.
"""
import ctypes
import os
import subprocess
import threading

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
_state = {"mode": None, "why": ""}


def _unshare(flags):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flags) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


def _lo_up():
    r = subprocess.run(["ip", "link", "set", "lo", "up"], capture_output=True, text=True)
    if r.returncode:
        raise OSError("ip link set lo up: %s" % r.stderr.strip())


def enter():
    """Idempotent. Returns (mode, detail): mode 'netns' or 'restrict-only'."""
    if _state["mode"]:
        return _state["mode"], _state["why"]
    if os.environ.get("FWNET_IN_NETNS") == "1":
        _state.update(mode="netns", why="inherited from the parent fwnet")
        return _state["mode"], _state["why"]
    uid, gid = os.getuid(), os.getgid()
    try:
        if uid == 0:
            _unshare(CLONE_NEWNET)
        else:
            _unshare(CLONE_NEWUSER | CLONE_NEWNET)
            with open("/proc/self/setgroups", "w") as f:
                f.write("deny")
            with open("/proc/self/uid_map", "w") as f:
                f.write("0 %d 1" % uid)
            with open("/proc/self/gid_map", "w") as f:
                f.write("0 %d 1" % gid)
        _lo_up()
        os.environ["FWNET_IN_NETNS"] = "1"
        _state.update(mode="netns", why="fresh network namespace, loopback only")
    except OSError as e:
        _state.update(mode="restrict-only", why="no network namespace (%s); QEMU restrict=on only" % e)
    return _state["mode"], _state["why"]


def enter_thread_netns():
    """Move the calling thread (only it, and what it starts later: threads,
    subprocesses) into a fresh network namespace with loopback up: a --jobs
    shard's own LAN. Needs CAP_SYS_ADMIN (root, or fwnet's user namespace).
    Returns a description for the report."""
    _unshare(CLONE_NEWNET)
    _lo_up()
    return "a namespace of its own (thread %d)" % threading.get_native_id()


def interfaces():
    """Interface names in the calling thread's network namespace
    (/proc/thread-self/net/dev: a --jobs shard may have its own; /proc/net
    is the main thread's; /sys/class/net shows sysfs's, not ours)."""
    path = "/proc/thread-self/net/dev" if os.path.exists("/proc/thread-self/net/dev") else "/proc/net/dev"
    with open(path) as f:
        return sorted(l.split(":")[0].strip() for l in f.readlines()[2:])
