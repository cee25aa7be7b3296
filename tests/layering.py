#!/usr/bin/python3
"""The folders' dependencies, as the #include lines draw them, checked
against docs/architecture.md's table (ctest `layering`).

    /usr/bin/python3 tests/layering.py [--source DIR] [--build DIR]   check (exit 1 on a violation)
    /usr/bin/python3 tests/layering.py --print [--build DIR]          print the house's figures

The check: every #include "<folder>/..." of a folder's C sources names a
folder its row of the table lists under "depends on" (or an exception
below, named by file), every folder a row lists is included by that folder
(the table says nothing that is not so), and the table has no circle.
Given a build dir (ctest gives its own), no files of one folder call each
other round either (see below).

--print shows the lines per folder, the include edges between folders with
the number of files on each, and, given a build dir, the circles between
files of one folder: file A calls a function defined in file B, read from
the symbols of the object files (nm), so a circle is files that call each
other round.
"""

import argparse
import collections
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Our folders, bottom first: a folder may include only folders before it.
FOLDERS = ["api", "common", "toml", "statemachine", "store", "cni", "oci", "images",
           "reconciler", "recovery", "streaming", "cri", "httpd", "daemon",
           "tools/crio-db-inspect"]

# Edges still in the code that the table does not allow, each by the file
# that makes it and why it is still there.  An exception that no longer
# matches is reported so the list only shrinks.
EXCEPTIONS = {
    # None left: cri/ reaches the host only through reconciler.h.
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def folder_of(rel):
    for f in sorted(FOLDERS, key=len, reverse=True):
        if rel == f or rel.startswith(f + "/"):
            return f
    return None


def sources(root):
    for folder in FOLDERS:
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.suffix in (".c", ".h") and path.is_file():
                yield folder, path


def include_edges(root):
    """{(from, to): set of files} for includes between different folders."""
    edges = collections.defaultdict(set)
    for folder, path in sources(root):
        rel = str(path.relative_to(root))
        for inc in INCLUDE.findall(path.read_text(errors="replace")):
            to = folder_of(inc)
            if to and to != folder:
                edges[(folder, to)].add(rel)
    return edges


def doc_table(root):
    """{folder: set of our folders its row lists under 'depends on'}."""
    text = (root / "docs" / "architecture.md").read_text()
    table = {}
    for line in text.splitlines():
        m = re.match(r"^\|\s*`([^`]+)/`\s*\|.*\|([^|]*)\|\s*$", line)
        if not m or m.group(1) not in FOLDERS:
            continue
        deps = set()
        for token in re.split(r"[,;]", m.group(2)):
            # The first word names the folder ("recovery (its registry)").
            word = re.match(r"\s*`?([a-z/-]*)", token).group(1).rstrip("/")
            if word in FOLDERS:
                deps.add(word)
        table[m.group(1)] = deps
    return table


def find_cycle(graph):
    """A circle in {node: set(nodes)} as a list, or None."""
    state = {}

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, stack)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def check(root, build=None):
    problems = []
    table = doc_table(root)
    for folder in FOLDERS:
        if (root / folder).is_dir() and folder not in table:
            problems.append(f"docs/architecture.md has no row for {folder}/")
    edges = include_edges(root)
    used = collections.defaultdict(set)
    matched = set()
    for (src, dst), files in sorted(edges.items()):
        used[src].add(dst)
        if dst in table.get(src, set()):
            continue
        left = []
        for f in sorted(files):
            if (f, dst) in EXCEPTIONS:
                matched.add((f, dst))
            else:
                left.append(f)
        if left:
            problems.append(f"{src}/ includes {dst}/, which docs/architecture.md does not list "
                            f"for it: {', '.join(left)}")
    for src, deps in sorted(table.items()):
        for dst in sorted(deps - used[src]):
            problems.append(f"docs/architecture.md says {src}/ depends on {dst}/, "
                            f"but no file of {src}/ includes {dst}/")
    for src, dst in sorted(edges):
        if src in FOLDERS and dst in FOLDERS and FOLDERS.index(dst) > FOLDERS.index(src):
            problems.append(f"{src}/ includes {dst}/, a folder above it")
    cycle = find_cycle(table)
    if cycle:
        problems.append("docs/architecture.md's dependencies make a circle: " + " -> ".join(cycle))
    if build:
        for folder, comps in file_circles(build, root).items():
            for comp in comps:
                problems.append(f"files of {folder}/ call each other round: {', '.join(comp)} "
                                f"(move what they share to a file that calls none of them)")
    for key in sorted(set(EXCEPTIONS) - matched):
        print(f"layering: note: the exception {key[0]} -> {key[1]}/ is no longer needed; "
              f"remove it from tests/layering.py", file=sys.stderr)
    return problems


# ---- figures --------------------------------------------------------------------------

def lines_per_folder(root):
    out = {}
    for folder, path in sources(root):
        out[folder] = out.get(folder, 0) + len(path.read_text(errors="replace").splitlines())
    return out


def file_circles(build, root=REPO):
    """Per folder, the strongly connected sets of its object files by calls.
    An object whose source is gone (a file removed since the build dir was
    made) is left out: it is no longer linked into anything."""
    objects = collections.defaultdict(list)
    for obj in Path(build).rglob("*.c.o"):
        rel = str(obj.relative_to(build))
        m = re.match(r"(.*)/CMakeFiles/[^/]+\.dir/((?:.*/)?([^/]+))\.c\.o$", rel)
        if not m or "tests" in rel.split("/")[0:1]:
            continue
        folder = m.group(1)
        if folder not in FOLDERS:
            continue
        source = Path(folder) / (m.group(2) + ".c")
        if not (root / source).is_file() and not (Path(build) / source).is_file():
            continue  # generated sources (api.pb-c.c) are in the build tree
        objects[folder].append((m.group(3) + ".c", obj))
    # One nm over every object (-A names the object on each line): an nm per
    # object costs a minute on a loaded machine.
    symbols = collections.defaultdict(lambda: ([], []))  # obj: (defined, undefined)
    paths = [str(obj) for objs in objects.values() for _, obj in objs]
    if paths:
        out = subprocess.run(["nm", "-A", "-g"] + paths, capture_output=True, text=True).stdout
        for line in out.splitlines():
            path, _, rest = line.partition(":")
            parts = rest.split()
            if len(parts) == 3 and parts[1] in "TDBR":
                symbols[path][0].append(parts[2])
            elif len(parts) == 2 and parts[0] == "U":
                symbols[path][1].append(parts[1])
    result = {}
    for folder, objs in sorted(objects.items()):
        defined, undefined = {}, {}
        for name, obj in objs:
            defs, undefs = symbols[str(obj)]
            for sym in defs:
                defined[sym] = name
            undefined[name] = set(undefs)
        graph = {name: {defined[s] for s in syms if s in defined and defined[s] != name}
                 for name, syms in undefined.items()}
        result[folder] = sccs(graph)
    return result


def sccs(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def print_figures(root, build):
    lines = lines_per_folder(root)
    print("lines per folder (.c and .h)")
    for folder in FOLDERS:
        if folder in lines:
            print(f"  {folder + '/':24} {lines[folder]:6}")
    print(f"  {'total':24} {sum(lines.values()):6}")
    print()
    print("include edges between folders (files making each)")
    for (src, dst), files in sorted(include_edges(root).items()):
        print(f"  {src + '/':24} -> {dst + '/':14} {len(files):3}")
    if build:
        print()
        print("circles between files of a folder (by calls, from the object files)")
        found = False
        for folder, comps in file_circles(build, root).items():
            for comp in comps:
                found = True
                print(f"  {folder}/: {', '.join(comp)}")
        if not found:
            print("  none")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", default=str(REPO))
    ap.add_argument("--print", action="store_true", dest="print_")
    ap.add_argument("--build", default=None)
    a = ap.parse_args()
    root = Path(a.source)
    if a.print_:
        print_figures(root, a.build)
        return 0
    problems = check(root, a.build)
    for p in problems:
        print(f"layering: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
