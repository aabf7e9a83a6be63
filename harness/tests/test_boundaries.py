"""ci/check-boundaries.py: the tree keeps its component boundaries, and the
check catches a private include, a path into another component's sources in
CMake, and a README without its links line."""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECK = os.path.join(ROOT, "ci", "check-boundaries.py")


def run(root):
    p = subprocess.run([sys.executable, CHECK, root], capture_output=True, text=True)
    return p.returncode, p.stdout


def test_tree_has_no_violations():
    rc, out = run(ROOT)
    assert rc == 0, out


def _copy(tmp_path):
    dst = tmp_path / "tree"
    shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns(".git", "build", "out", "pcaps", "__pycache__"))
    return dst


def test_planted_violations_fail(tmp_path):
    t = _copy(tmp_path)
    with open(t / "agent" / "core" / "dispatch.c", "a") as f:
        f.write('#include "internal.h"\n')                    # efi-net/src, by search path
    with open(t / "fakes" / "src" / "net.c", "a") as f:
        f.write('#include "../../efi-net/src/internal.h"\n')  # by relative path
        f.write('#include "fwnet/uefi.h"\n')                   # public: allowed
    with open(t / "netsim" / "CMakeLists.txt", "a") as f:
        f.write("add_library(x ${PROJECT_SOURCE_DIR}/efi-net/src/tcp.c)\n")
    readme = t / "efi-quirks" / "README.md"
    readme.write_text("".join(l for l in readme.read_text().splitlines(True) if not l.startswith("links: ")))
    rc, out = run(str(t))
    assert rc == 1
    lines = out.splitlines()
    assert any(l.startswith("agent/core/dispatch.c:") and "internal.h" in l and "efi-net" in l for l in lines), out
    assert any(l.startswith("fakes/src/net.c:") and "../../efi-net/src/internal.h" in l for l in lines), out
    assert not any("fwnet/uefi.h" in l for l in lines), out
    assert any(l.startswith("netsim/CMakeLists.txt:") and "efi-net" in l for l in lines), out
    assert any(l.startswith("efi-quirks/README.md") for l in lines), out
    assert len(lines) == 4, out


def test_no_cmake_path_into_other_sources():
    """The issue's own check: no ${PROJECT_SOURCE_DIR}/<component>/src in any CMakeLists."""
    p = subprocess.run("grep -rn 'PROJECT_SOURCE_DIR}/[a-z-]*/src' --include=CMakeLists.txt . "
                       "--exclude-dir=build --exclude-dir=.git", shell=True, cwd=ROOT,
                       capture_output=True, text=True)
    assert p.stdout == "", p.stdout
