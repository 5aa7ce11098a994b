#!/usr/bin/env python3
"""Re-points the guide's line anchors at the code as it is now.

A line anchor is a link whose text is one backticked name and whose target is a Rust file with a
line range: [`Registered::poll_io`](../runtime/src/net/registered.rs#L235-L270). The range must
cover the item the name ends with (`fn poll_io`), from its declaration line to its closing brace;
runtime/tests/docs_anchors.rs fails when one does not. This script rewrites every anchor of
docs/*.md to the item's current lines (when a file declares the name more than once, the
declaration nearest the old line wins) and prints what it moved.

    python3 scripts/anchors.py          # rewrite docs/*.md in place
    python3 scripts/anchors.py --check  # only say what is stale; exit 1 if anything is
"""
import glob
import os
import re
import sys

ANCHOR = re.compile(r"\[`([A-Za-z_][A-Za-z0-9_:]*)`\]\(((?:\.\./)+[^)#]+\.rs)#L(\d+|\?)(?:-L(\d+))?\)")
KEYWORDS = ("fn", "struct", "enum", "trait", "const", "static", "type", "mod", "macro_rules!")


def items(lines, name):
    """(start, end) of each item called `name`, 1-based, declaration line to closing line."""
    pattern = re.compile(
        r"^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:(?:const|async|unsafe|extern \"C\")\s+)*(?:%s)\s+%s\b"
        % ("|".join(re.escape(k) for k in KEYWORDS), re.escape(name))
    )
    found = []
    for i, line in enumerate(lines):
        m = pattern.match(line)
        if not m:
            continue
        indent = m.group(1)
        end = i
        if not line.rstrip().endswith(";"):
            closing = indent + "}"
            for j in range(i + 1, len(lines)):
                if lines[j].rstrip() in (closing, closing + ";", closing + ","):
                    end = j
                    break
        found.append((i + 1, end + 1))
    return found


def main():
    check = "--check" in sys.argv
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    stale = 0
    for page in sorted(glob.glob(os.path.join(root, "docs", "*.md"))):
        text = open(page).read()

        def repoint(m):
            nonlocal stale
            name, target, start = m.group(1), m.group(2), m.group(3)
            path = os.path.normpath(os.path.join(os.path.dirname(page), target))
            item = name.split("::")[-1]
            lines = open(path).read().split("\n") if os.path.exists(path) else []
            candidates = items(lines, item)
            if not candidates:
                print(f"{os.path.relpath(page, root)}: no `{item}` in {target}")
                stale += 1
                return m.group(0)
            old = int(start) if start != "?" else 0
            best = min(candidates, key=lambda c: abs(c[0] - old))
            new = f"[`{name}`]({target}#L{best[0]}-L{best[1]})"
            if new != m.group(0):
                print(f"{os.path.relpath(page, root)}: {name} -> L{best[0]}-L{best[1]}")
                stale += 1
            return new

        rewritten = ANCHOR.sub(repoint, text)
        if not check and rewritten != text:
            open(page, "w").write(rewritten)
    if check and stale:
        sys.exit(1)


if __name__ == "__main__":
    main()
