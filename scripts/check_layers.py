#!/usr/bin/env python3
"""Checks every `import` in Sources/ against the layering written in Package.swift's comment.

Package.swift's comment lists, for each module, the modules of ours it may import:
    //   Training   <- Model, Kernels, Collective, Files (data, optimizer, ...)
A module missing from the table, or a file importing one of our modules not listed for its own,
fails the check with the file, the line and the rule. System and package modules (Foundation,
Glibc, ArgumentParser, ...) are not ours and are allowed anywhere below the CLI, except the
command-line parser, which only the CLI may use. `make test` runs this; exit status 1 on a
violation.
"""
import os
import re
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
package = open(os.path.join(root, "Package.swift"), encoding="utf-8").read()

rules = {}
for line in package.splitlines():
    m = re.match(r"^//\s+(\w+)\s+<-\s+([^(]*)", line)
    if m:
        allowed = [name.strip() for name in m.group(2).split(",") if name.strip()]
        rules[m.group(1)] = allowed
if not rules:
    sys.exit("check_layers: no layering table (lines like '//   Model <- Kernels, Files') in Package.swift")

ours = set(os.listdir(os.path.join(root, "Sources")))
cli_only = {"ArgumentParser"}
problems = []
for module in sorted(ours):
    folder = os.path.join(root, "Sources", module)
    swift_files = [os.path.join(d, f) for d, _, files in os.walk(folder) for f in files if f.endswith(".swift")]
    if not swift_files:
        continue  # a C target: its module map is its only interface
    if module not in rules:
        problems.append(f"Sources/{module}: not in Package.swift's layering table")
        continue
    allowed = rules[module]
    everything = allowed == ["everything above"]
    for path in sorted(swift_files):
        for number, text in enumerate(open(path, encoding="utf-8"), 1):
            m = re.match(r"^\s*(?:@testable\s+|@_exported\s+)?import\s+(?:\w+\s+)?(\w+)", text)
            if not m:
                continue
            imported = m.group(1)
            relative = os.path.relpath(path, root)
            if imported in ours and imported != module and not everything and imported not in allowed:
                problems.append(f"{relative}:{number}: {module} imports {imported}, but its layer may import only "
                                f"{', '.join(allowed) or 'nothing of ours'} (Package.swift)")
            if imported in cli_only and not everything:
                problems.append(f"{relative}:{number}: {module} imports {imported}, which only the CLI may use")

for problem in problems:
    print(problem, file=sys.stderr)
if problems:
    sys.exit(f"check_layers: {len(problems)} import(s) break the layering")
print(f"check_layers: {len(rules)} modules, every import within its layer")
