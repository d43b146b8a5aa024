#!/usr/bin/env python3
"""Fails when a source file includes a header of a layer it may not depend on.

The table below is the one statement of ferry's layering (docs/architecture.md explains it):
each layer may include its own headers and those of the layers it lists, nothing else. Only
project headers are checked (third-party ones such as lwip/ or mbedtls/ are the build's
business). Usage: check-layers.py [ROOT]  (default: the repository this script is in);
exits 1 and names every back edge found, 2 on a file no layer claims.
"""
import os
import re
import sys

# (layer, path patterns claiming files for it) -- first match wins, so the narrow ones first.
LAYERS = [
    ("boot",    [r"boot/"]),
    ("base",    [r"hv/base/"]),
    ("backend", [r"arch/x86_64/vmx/", r"arch/x86_64/svm/", r"arch/x86_64/backend\."]),
    ("arch",    [r"arch/x86_64/"]),
    ("drivers", [r"drivers/"]),
    ("net",     [r"net/"]),
    ("host",    [r"hv/host\.h$"]),
    ("cpu",     [r"hv/cpu/"]),
    ("emul",    [r"hv/emul/"]),
    ("dev",     [r"hv/dev/"]),
    ("vm",      [r"hv/vm/"]),
    ("mig",     [r"hv/mig/"]),
    ("mgmt",    [r"hv/mgmt/"]),
    ("console", [r"hv/console/"]),
    ("main",    [r"hv/main\.c$"]),
]

# What each layer may include besides itself. boot/boot_info.h is the one contract between
# the loader and the core, so every core layer may include it (and nothing else of boot/).
ALLOWED = {
    "boot":    set(),
    "base":    set(),
    "arch":    {"base"},
    "drivers": {"base", "arch"},
    "net":     {"base", "arch", "drivers"},
    "host":    {"base", "arch", "drivers"},
    "cpu":     {"base"},
    "emul":    {"base", "cpu"},
    "dev":     {"base", "cpu", "emul"},
    "vm":      {"base", "arch", "host", "cpu", "emul", "dev"},
    "backend": {"base", "arch", "cpu", "emul", "vm"},
    "mig":     {"base", "arch", "net", "host", "cpu", "dev", "vm"},
    "mgmt":    {"base", "arch", "drivers", "net", "host", "cpu", "emul", "dev", "vm", "mig"},
    # The console parses and prints; every operation is hv/mgmt/'s. drivers/ only for its own
    # terminal: control.c reads and writes the host serial port (drivers/uart.h).
    "console": {"base", "drivers", "mgmt"},
    "main":    {"base", "arch", "backend", "drivers", "net", "host", "cpu", "emul", "dev",
                "vm", "mig", "mgmt", "console"},
}
BOOT_CONTRACT = "boot/boot_info.h"

# Known back edges still to remove, each named exactly (a new one anywhere fails the check).
KNOWN = set()
SOURCE_DIRS = ["boot", "hv", "arch", "drivers", "net"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(path):
    for name, pats in LAYERS:
        if any(re.match(p, path) for p in pats):
            return name
    return None


def resolve(root, src, inc):
    """The project path an include names, or None for a header outside the project."""
    for cand in (inc, os.path.normpath(os.path.join(os.path.dirname(src), inc))):
        if os.path.isfile(os.path.join(root, cand)) and layer_of(cand):
            return cand
    return None


def check(root):
    bad, unclaimed = [], []
    for top in SOURCE_DIRS:
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if not f.endswith((".c", ".h", ".S")):
                    continue
                src = os.path.relpath(os.path.join(d, f), root)
                me = layer_of(src)
                if me is None:
                    unclaimed.append(src)
                    continue
                text = open(os.path.join(root, src), errors="replace").read()
                for m in INCLUDE.finditer(text):
                    dst = resolve(root, src, m.group(1))
                    if dst is None:
                        continue
                    them = layer_of(dst)
                    if them == me or them in ALLOWED[me]:
                        continue
                    if dst == BOOT_CONTRACT and me != "boot":
                        continue
                    if (src, dst) in KNOWN:
                        continue
                    line = text.count("\n", 0, m.start()) + 1
                    bad.append(f"{src}:{line}: {me} may not include {dst} ({them})")
    return bad, unclaimed


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else \
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bad, unclaimed = check(root)
    for u in unclaimed:
        print(f"check-layers: {u}: no layer claims this file (add it to tools/check-layers.py)")
    for b in bad:
        print(f"check-layers: {b}")
    if unclaimed:
        return 2
    if bad:
        return 1
    print("check-layers: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
