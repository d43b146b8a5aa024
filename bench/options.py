#!/usr/bin/env python3
"""Two sets of `migrate` options side by side, in one run, on the same guest and link.

Two QEMU TCG hosts (AMD-V, virtio-net over a socket netdev, TLS on) boot once; a guest of
mem_mib MiB (mbtest's dirtier, run until every page of its set holds data, then paused: every
migration then moves the same pages, and the rate is the engine's, not the guest's) moves back
and forth with options A, B, B, A, A, B, ... so that each set goes both ways equally often (the
two directions differ on a loaded machine). After each move the guest is paused again on its
new host. One line per migration, then per set:

  set=A|B opts=".." runs=.. mbps=.. (each) mean_mbps=..
  b_vs_a=..   (B's mean rate over A's)

    bench/options.py [mem_mib] [--reps N] "OPTIONS A" "OPTIONS B"     (run `make` first)
    e.g. bench/options.py 64 "delta=off" "delta=on"
"""
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "system"))
from ferryhost import BUILD  # noqa: E402
from migrate import boot_pair  # noqa: E402  (bench/migrate.py)

MBTEST = os.path.join(BUILD, "guest", "mbtest.elf")


def main():
    args = sys.argv[1:]
    reps = 2
    if "--reps" in args:
        i = args.index("--reps")
        reps = int(args[i + 1])
        del args[i:i + 2]
    mem = int(args.pop(0)) if args and args[0].isdigit() else 64
    if len(args) != 2:
        sys.exit(__doc__)
    sets = {"A": args[0], "B": args[1]}
    work = tempfile.mkdtemp(prefix="ferry-bench-opts-")
    hosts = []
    try:
        a, b = boot_pair(work, mem, "opts", hosts, images=[MBTEST])
        out = a.command("net bench 10.0.0.2 5", timeout=90)
        link = re.search(r"bench: [^\r\n]*", out).group(0)
        print(f"link: {link}", flush=True)
        a.command(f'vm create d mem={mem} cpus=1 kernel=mbtest.elf '
                  f'args="dirty mem={mem} ws={mem - 8} kibps=100000"', timeout=120)
        a.command("vm start d")
        deadline = time.time() + 300
        while time.time() < deadline:
            laps = re.findall(r"MBTEST dirty lap=(\d+)", a.vm_output("d", 2))
            if laps and int(laps[-1]) >= 2:
                break
        a.command("vm pause d")
        src, dst, to = a, b, "10.0.0.2"
        rates = {"A": [], "B": []}
        for i in range(2 * reps):
            name = "A" if i % 4 in (0, 3) else "B"
            src.command(f"migrate d {to} {sets[name]}")
            src.expect(r"(migrate: (done|failed) [^\r\n]*)\r?\n", timeout=900)
            line = src.con.match.group(1)
            print(f"set={name} {line}", flush=True)
            m = re.search(r" mbps=([\d.]+) ", line)
            assert line.startswith("migrate: done") and m, line
            rates[name].append(float(m.group(1)))
            dst.command("vm pause d")
            src, dst, to = dst, src, "10.0.0.1" if to == "10.0.0.2" else "10.0.0.2"
        mean = {k: sum(v) / len(v) for k, v in rates.items()}
        for k in ("A", "B"):
            print(f'set={k} opts="{sets[k]}" runs={len(rates[k])} mbps={rates[k]} '
                  f"mean_mbps={mean[k]:.1f}")
        print(f"b_vs_a={mean['B'] / mean['A']:.2f}")
    finally:
        for h in hosts:
            h.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
