#!/usr/bin/env python3
"""Print the picture of the includes between remotezoo's C files, and check the rules of
csrc/README.md: no circle between files, and no arrow from a lower layer up into a higher one.

A node is a file pair (``core/registry`` for registry.c and registry.h; a ``*_private.h`` belongs
to the .c it is named after). An arrow A -> B means a file of A includes B's header. So that the
picture shows what calls what, every header may declare only functions (and variables) that its
own .c defines; a header without a .c (a leaf: types, macros and ``static inline`` functions)
declares none. Comments may cite only files that exist.

Layers (a folder may include itself and the folders after its arrow):

    util/     -> (nothing else)         compiled into both extensions
    net/      -> util                   remotezoo._net's engine
    core/     -> util, net/net.h        remotezoo._core's engine; of net/ only the engines' table
    py/       -> util, core, net        glue both extensions share
    py/core/  -> util, core, net, py    remotezoo._core's glue
    py/net/   -> util, net, py          remotezoo._net's glue
    py/digest/ -> util, net, py         remotezoo._digest's glue (of net/, digest.c and sha256.c)

Usage: scripts/include_graph.py [--dot] [--quiet] [--csrc DIR]   (exit 1 when a rule is broken)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ALLOWED = {
    "util": {"util"},
    "net": {"util", "net"},
    "core": {"util", "core", "net/net.h"},
    "py": {"util", "core", "net", "py"},
    "py/core": {"util", "core", "net", "py", "py/core"},
    "py/net": {"util", "net", "py", "py/net"},
    "py/digest": {"util", "net", "py", "py/digest"},
}

# Files of other projects that comments cite (the anchors of shared/STYLE.md, system headers).
EXTERNAL = {
    "Python.h",
    "archive.h",
    "archive_entry.h",
    "bsdtar.c",
    "cJSON.h",
    "curl.h",
    "evp.h",
    "zlibmodule.c",
    "module.h",
    "util.c",
    "10-at-a-time.c",
    "pycurl.h",
    "dynbuf.c",
    "dynbuf.h",
    "futils.c",
    "futils.h",
    "str.c",
    "str.h",
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
CITED = re.compile(r"\b([A-Za-z0-9_./-]+\.[ch])\b")
# A declaration at file level: "type name(...);" or "extern type name[];".
DECLARED = re.compile(
    r"^(?!static|typedef|#)[A-Za-z_][^;{}()]*?\b(rz_\w+)\s*(?:\(|\[\])[^;{]*;", re.M
)
DEFINED = re.compile(
    r"^(?!static)[A-Za-z_][^;{}()=]*?\b(rz_\w+)\s*(?:\([^;]*?\)\s*\{|\[\]\s*=)", re.M | re.S
)


CSRC = Path(__file__).resolve().parent.parent / "csrc"


def node_of(path: Path) -> str:
    rel = path.relative_to(CSRC).with_suffix("").as_posix()
    return rel[: -len("_private")] if rel.endswith("_private") else rel


def folder_of(node: str) -> str:
    return node.rsplit("/", 1)[0] if "/" in node else ""


def strip_comments(text: str) -> str:
    return COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def main() -> int:
    global CSRC
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dot", action="store_true", help="print Graphviz dot instead of a list")
    parser.add_argument("--quiet", action="store_true", help="print only the problems")
    parser.add_argument("--csrc", type=Path, default=CSRC, help="the tree to read (default: ours)")
    args = parser.parse_args()
    CSRC = args.csrc.resolve()

    files = sorted(p for p in CSRC.rglob("*.[ch]"))
    edges: dict[str, set[str]] = {node_of(p): set() for p in files}
    problems: list[str] = []
    names = {p.name for p in files}
    for path in files:
        text = path.read_text()
        src, rel = node_of(path), path.relative_to(CSRC).as_posix()
        for target in INCLUDE.findall(text):
            header = CSRC / target
            if not header.is_file():
                problems.append(f"{rel}: includes {target}, which is not a file of csrc/")
                continue
            dst = node_of(header)
            allowed = ALLOWED.get(folder_of(src), set())
            if folder_of(dst) not in allowed and target not in allowed:
                problems.append(f"{rel}: an arrow up or across the layers: includes {target}")
            if dst != src:
                edges[src].add(dst)
        for comment in COMMENT.findall(text):
            for cited in CITED.findall(comment):
                name = cited.rsplit("/", 1)[-1]
                if name not in names and name not in EXTERNAL and not (CSRC / cited).is_file():
                    problems.append(f"{rel}: a comment cites {cited}, which does not exist")

    # Each header declares what its own .c defines, so that an include is a call's direction.
    for header in (p for p in files if p.suffix == ".h"):
        code = header.with_name(header.name.replace("_private.h", ".h")).with_suffix(".c")
        declared = set(DECLARED.findall(strip_comments(header.read_text())))
        defined = (
            set(DEFINED.findall(strip_comments(code.read_text()))) if code.is_file() else set()
        )
        for name in sorted(declared - defined):
            where = code.relative_to(CSRC).as_posix() if code.is_file() else "a .c of its own"
            problems.append(
                f"{header.relative_to(CSRC).as_posix()}: declares {name}, "
                f"which {where} does not define"
            )

    # Circles: a depth-first walk; a node met again while on the path closes one.
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                problems.append("a circle: " + " -> ".join(path[path.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)

    if args.dot:
        print("digraph includes {\n  rankdir=BT; node [shape=box, fontsize=10];")
        for folder in sorted({folder_of(n) for n in edges}):
            print(f'  subgraph "cluster_{folder}" {{ label="{folder}/";')
            for node in sorted(n for n in edges if folder_of(n) == folder):
                print(f'    "{node}";')
            print("  }")
        for node in sorted(edges):
            for nxt in sorted(edges[node]):
                print(f'  "{node}" -> "{nxt}";')
        print("}")
    elif not args.quiet:
        for node in sorted(edges, key=lambda n: (list(ALLOWED).index(folder_of(n)), n)):
            print(f"{node:24} -> {', '.join(sorted(edges[node])) or '-'}")
    for problem in problems:
        print(f"include_graph: {problem}", file=sys.stderr)
    if not problems and not args.quiet and not args.dot:
        print(f"include_graph: {len(edges)} files, no circle, no arrow up")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
