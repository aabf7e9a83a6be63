#!/usr/bin/env python3
"""Component boundaries: each top-level directory with a CMakeLists.txt is a
component that others reach only through its include/ directories and its
CMake targets.

Checked, for every C/assembly source and header of a component:
  - an #include "..." that resolves to a file of another component must
    resolve to one under that component's include/ (a private header is a
    violation, whatever path spelling reaches it);
and for every CMakeLists.txt:
  - no path into another component (${PROJECT_SOURCE_DIR}/<other>/...,
    ${CMAKE_SOURCE_DIR}/<other>/..., ../<other>/...): link its target;
and for every component's README.md (and every other top-level README):
  - a line "links: ... / must not include: ..." (the form of rumprun's
    lib/README.txt).

Usage: check-boundaries.py [ROOT]; exit 1 with one line per violation.
"""
import os
import re
import sys

SRC_EXT = (".c", ".h", ".S")
SKIP_DIRS = {".git", "build", "out", "node_modules", "__pycache__"}
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
CMAKE_PATH_RE = re.compile(r'\$\{(?:PROJECT_SOURCE_DIR|CMAKE_SOURCE_DIR)\}/([A-Za-z0-9_.-]+)|(?<![\w$}/])\.\./([A-Za-z0-9_.-]+)')
# Top-level directories that hold build helpers, not code with a boundary.
SHARED_CMAKE = {"cmake", "build"}


def components(root):
    return sorted(d for d in os.listdir(root)
                  if d not in SKIP_DIRS and os.path.isfile(os.path.join(root, d, "CMakeLists.txt")))


def walk(root, comp):
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, comp)):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        for f in filenames:
            yield os.path.join(dirpath, f)


def public_dirs(root, comp):
    """Every directory named include/ inside the component is public."""
    out = []
    for dirpath, dirnames, _ in os.walk(os.path.join(root, comp)):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        if os.path.basename(dirpath) == "include":
            out.append(dirpath)
    return out


def owner(root, path, comps):
    rel = os.path.relpath(path, root).split(os.sep)
    return rel[0] if rel[0] in comps else None


def check(root):
    root = os.path.abspath(root)
    comps = components(root)
    pub = {c: public_dirs(root, c) for c in comps}
    # every source file by its path suffixes, for resolving include spellings
    files = {c: [p for p in walk(root, c) if p.endswith(SRC_EXT)] for c in comps}
    allfiles = [p for c in comps for p in files[c]]
    problems = []
    for c in comps:
        for src in files[c]:
            with open(src, errors="replace") as f:
                for n, line in enumerate(f, 1):
                    m = INCLUDE_RE.match(line)
                    if not m:
                        continue
                    inc = os.path.normpath(m.group(1))
                    here = os.path.normpath(os.path.join(os.path.dirname(src), inc))
                    cands = [here] if os.path.exists(here) else \
                        [p for p in allfiles if p.endswith(os.sep + inc)]
                    if not cands:
                        continue  # a system or third-party header (lwIP, libslirp)
                    if any(owner(root, p, comps) == c for p in cands):
                        continue  # its own header
                    ok = [p for p in cands for d in pub[owner(root, p, comps)]
                          if p.startswith(d + os.sep)]
                    if not ok:
                        problems.append("%s:%d: includes %s, a private header of %s (use its include/ and link its target)"
                                        % (os.path.relpath(src, root), n, m.group(1),
                                           ", ".join(sorted({owner(root, p, comps) for p in cands}))))
        cml = os.path.join(root, c, "CMakeLists.txt")
        for p in walk(root, c):
            if os.path.basename(p) != "CMakeLists.txt":
                continue
            with open(p) as f:
                for n, line in enumerate(f, 1):
                    code = line.split("#", 1)[0]
                    for m in CMAKE_PATH_RE.finditer(code):
                        target = m.group(1) or m.group(2)
                        if m.group(2):
                            # ../x from a nested CMakeLists may stay inside the component
                            resolved = os.path.normpath(os.path.join(os.path.dirname(p), "..", target))
                            if owner(root, resolved + os.sep, comps) in (c, None):
                                continue
                            target = owner(root, resolved + os.sep, comps)
                        if target in comps and target != c:
                            problems.append("%s:%d: reaches into %s/ by path; link its CMake target instead"
                                            % (os.path.relpath(p, root), n, target))
        del cml
    # every top-level directory with a README states its rules, code or not
    for d in sorted(os.listdir(root)):
        readme = os.path.join(root, d, "README.md")
        if d in SKIP_DIRS or d.startswith(".") or not (d in comps or os.path.isfile(readme)):
            continue
        text = open(readme).read() if os.path.exists(readme) else ""
        if not re.search(r"^links: .+ / must not include: .+", text, re.M):
            problems.append("%s/README.md: no line 'links: ... / must not include: ...'" % d)
    return problems


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    problems = check(root)
    for p in problems:
        print(p)
    if problems:
        print("check-boundaries: %d violation(s)" % len(problems), file=sys.stderr)
        return 1
    print("check-boundaries: %d components, no violations" % len(components(os.path.abspath(root))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
