"""One boot for every shard of a `--jobs N` OVMF run.

The first shard to start boots its guests and saves the snapshot as usual;
then, with the guests stopped, it copies each guest's qcow2 images (the vars
and the disk: the snapshot is inside them) into share/ and publishes them
with the agent's facts. Every other shard starts its QEMUs from copies of
those (-loadvm): a second of work instead of a TCG boot competing for the
same two cores. A shard whose leader could not share boots on its own.
"""
import os
import shutil
import subprocess
import threading

IMAGES = ("vars.qcow2", "disk.qcow2")


class Shared:
    """What the leader published: per guest the image copies, and the facts."""

    def __init__(self, tag, images, facts, extra, origin):
        self.tag, self.images, self.facts, self.extra, self.origin = tag, images, facts, extra, origin


class SnapshotShare:
    def __init__(self, share_dir, wait_s=300):
        self.dir = share_dir
        self.wait_s = wait_s
        self._lock = threading.Lock()
        self._leader = None
        self._done = threading.Event()
        self.shared = None  # a Shared, or None when the leader could not
        self.why = None

    def claim(self, who):
        """True for the first shard (it boots); the others follow."""
        with self._lock:
            if self._leader is None:
                self._leader = who
                return True
            return self._leader == who

    def publish(self, tag, guest_dirs, facts, extra, stop, cont):
        """The leader, just after savevm: stop() the guests, copy their
        images, cont(). Any failure means the others boot themselves."""
        try:
            stop()
            try:
                images = []
                for k, gd in enumerate(guest_dirs):
                    dst = os.path.join(self.dir, "guest%d" % (k + 1))
                    os.makedirs(dst, exist_ok=True)
                    got = {}
                    for name in IMAGES:
                        src = os.path.join(gd, name)
                        if not os.path.exists(src):
                            raise OSError("%s: not there (the snapshot needs every drive in qcow2)" % src)
                        copy_sparse(src, os.path.join(dst, name))
                        got[name] = os.path.join(dst, name)
                    images.append(got)
            finally:
                cont()
            self.shared = Shared(tag, images, dict(facts), dict(extra), self._leader)
        except Exception as e:  # noqa: BLE001 (whatever failed, the followers must not wait for ever)
            self.why = "sharing the snapshot failed: %s" % e
        finally:
            self._done.set()

    def give_up(self, why):
        """The leader booted without a snapshot (or not at all)."""
        if not self._done.is_set():
            self.why = why
            self._done.set()

    def wait(self):
        """A follower: the leader's Shared, or None (boot on your own)."""
        if not self._done.wait(self.wait_s):
            self.why = "the first shard did not share a snapshot within %d s" % self.wait_s
            return None
        return self.shared


def copy_sparse(src, dst):
    """A qcow2 image with its snapshot, holes kept (cp --sparse=always)."""
    tmp = dst + ".tmp"
    r = subprocess.run(["cp", "--sparse=always", src, tmp], capture_output=True, text=True)
    if r.returncode:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
