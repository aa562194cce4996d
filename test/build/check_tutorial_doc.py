#!/usr/bin/env python3
"""check_tutorial_doc.py API_MD UPPER_C - the first server printed in
docs/api.md is the file the integration test builds (docs/tutorial/upper.c),
byte for byte: the tutorial cannot drift from what is tested."""
import re
import sys

doc = open(sys.argv[1], encoding="utf-8").read()
src = open(sys.argv[2], encoding="utf-8").read()
blocks = re.findall(r"```c\n(.*?)```", doc, re.S)
first = next((b for b in blocks if "upper.c - a first DLibOS server" in b), None)
if first is None:
    print(f"FAIL: no code block of upper.c in {sys.argv[1]}")
    sys.exit(1)
if first != src:
    import difflib
    sys.stdout.writelines(difflib.unified_diff(src.splitlines(True), first.splitlines(True),
                                               sys.argv[2], sys.argv[1] + " (code block)"))
    print("FAIL: the tutorial's listing differs from docs/tutorial/upper.c")
    sys.exit(1)
print(f"ok: docs/api.md shows docs/tutorial/upper.c ({len(src.splitlines())} lines)")
