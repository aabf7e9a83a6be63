"""Build and unit-test the C parts with CMake and CTest.

Two build trees: build/release (host code and the EFI targets) and
build/asan (host code under AddressSanitizer and UBSan). Both are
incremental; a failed step raises BuildError naming the step and its log.
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TREES = {
    "release": ["-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DFWNET_EFI=ON"],
    "asan": ["-DCMAKE_BUILD_TYPE=Debug", "-DFWNET_SANITIZE=ON", "-DFWNET_EFI=OFF"],
}


class BuildError(Exception):
    pass


def tree_dir(name):
    return os.path.join(ROOT, "build", name)


def tool_path(component, name):
    """A host program of a component; FWNET_TREE=asan picks the sanitizer build's."""
    tree = os.environ.get("FWNET_TREE", "release")
    return os.path.join(tree_dir(tree), component, name)


# FWNET_AGENT=posix: the agents built from the Linux adapter over efi-net's
# <efisock/posix.h> (agent/CMakeLists.txt) in place of the efi-net adapter's.
POSIX_AGENTS = {"fwnet-agent-fakes": "fwnet-agent-posix-fakes", "fwnet-agent": "fwnet-agent-posix"}


def _agent_choice(name):
    return POSIX_AGENTS.get(name, name) if os.environ.get("FWNET_AGENT") == "posix" else name


def agent_path(name):
    """A host agent (agent/)."""
    return tool_path("agent", _agent_choice(name))


def _run(step, cmd, log):
    with open(log, "a") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        rc = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    if rc != 0:
        with open(log) as f:
            tail = f.read().splitlines()[-25:]
        raise BuildError("%s failed (exit %d); log: %s\n%s" % (step, rc, log, "\n".join(tail)))


def build(name, jobs=None, quiet=False):
    d = tree_dir(name)
    os.makedirs(d, exist_ok=True)
    log = os.path.join(d, "build.log")
    open(log, "w").close()
    if not quiet:
        print("fwnet: building %s (log %s)" % (name, os.path.relpath(log, ROOT)), flush=True)
    _run("cmake configure (%s)" % name, ["cmake", "-S", ROOT, "-B", d] + TREES[name], log)
    _run("cmake build (%s)" % name,
         ["cmake", "--build", d, "-j", str(jobs or os.cpu_count() or 2)], log)
    return d


def ctest(name, jobs=None):
    """Run CTest in a build tree; its output goes to the terminal."""
    d = tree_dir(name)
    print("fwnet: unit tests (%s)" % name, flush=True)
    return subprocess.call(["ctest", "--test-dir", d, "--output-on-failure",
                            "-j", str(jobs or os.cpu_count() or 2)], cwd=ROOT)


AGENT_APPS = {"x86_64": "fwnet-agent", "i386": "fwnet-agent-ia32"}


def agent_app(arch):
    """The agent's EFI application for a firmware's architecture."""
    return _agent_choice(AGENT_APPS.get(arch or "x86_64", "fwnet-agent"))


def efi_app(name="fwnet-agent"):
    sub = {"fwnet-agent": ("agent",), "fwnet-agent-ia32": ("agent",), "fwnet-agent-posix": ("agent",), "efinet-info": ("efi-net",)}[name]
    path = os.path.join(tree_dir("release"), *sub, name + ".efi")
    if not os.path.exists(path):
        raise BuildError("EFI application %s not built (run: ./fwnet build)" % path)
    return path


def rump_image():
    """The bare-metal image (rump-hw/), built in the release tree."""
    path = os.path.join(tree_dir("release"), "rump-hw", "fwnet-rump.elf")
    if not os.path.exists(path):
        raise BuildError("rump-hw image %s not built (run: ./fwnet build; lwIP's source comes "
                         "from ci/install-deps.sh)" % path)
    return path
