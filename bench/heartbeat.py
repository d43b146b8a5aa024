#!/usr/bin/env python3
"""Heartbeat benchmark: boots ferry in an emulator, runs the memtest guest for a while and
prints heartbeats per second (host wall clock) and VM exits per heartbeat.

    bench/heartbeat.py bochs|qemu [seconds] [vm options...]

Default VM: mem=8 cpus=1 args="hb=8 pages=8". Run `make` first.
"""
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "system"))
from ferryhost import BochsHost, QemuHost  # noqa: E402


def exits(h):
    total, by = 0, {}
    for m in re.finditer(r"^exits (\S+) (\d+)$", h.command("vm stats hb"), re.M):
        by[m.group(1)] = int(m.group(2))
        total += int(m.group(2))
    return total, by


def main():
    emu = sys.argv[1] if len(sys.argv) > 1 else "bochs"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30
    opts = " ".join(sys.argv[3:]) or 'mem=8 cpus=1 args="hb=8 pages=8"'
    work = tempfile.mkdtemp(prefix="ferry-bench-")
    h = BochsHost(work) if emu == "bochs" else QemuHost(work, smp=2, mem_mb=512)
    try:
        h.start().wait_prompt()
        h.command(f"vm create hb {opts}")
        h.command("vm start hb")
        h.wait_heartbeats("hb", 0, 1, timeout=300)
        # seq, not line count: the 64 KiB UART ring drops old lines
        b0 = max(b["seq"] for b in h.heartbeats("hb") if b["vcpu"] == 0)
        e0, _ = exits(h)
        t0 = time.time()
        time.sleep(seconds)
        b1 = max(b["seq"] for b in h.heartbeats("hb") if b["vcpu"] == 0)
        e1, by = exits(h)
        t1 = time.time()
        beats = b1 - b0
        print(f"emulator={emu} vm=\"{opts}\" seconds={t1 - t0:.1f} heartbeats={beats} "
              f"hb_per_s={beats / (t1 - t0):.2f} exits={e1 - e0} "
              f"exits_per_hb={(e1 - e0) / beats if beats else float('nan'):.1f}")
        print("exits by reason (whole run): " + " ".join(f"{k}={v}" for k, v in by.items()))
    finally:
        h.stop()


if __name__ == "__main__":
    main()
