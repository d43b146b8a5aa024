#!/usr/bin/env python3
"""Network benchmark: two QEMU TCG hosts on one segment (socket netdev), `net bench` from A
to B for each NIC model, and ping round trips. Prints one line per model.

    bench/net.py [seconds]        (run `make` first)
"""
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "system"))
from ferryhost import BUILD, QemuHost, free_port  # noqa: E402


def esp(work, name, ip):
    d = os.path.join(work, f"esp-{name}")
    shutil.copytree(os.path.join(BUILD, "esp"), d)
    with open(os.path.join(d, "ferry.cfg"), "a") as f:
        f.write(f"ip={ip}\n")
    return d


def run(model, seconds):
    work = tempfile.mkdtemp(prefix="ferry-bench-net-")
    port = free_port()
    a = QemuHost(work, smp=2, mem_mb=256, name="a", esp=esp(work, "a", "10.0.0.1/24"),
                 extra=["-netdev", f"socket,id=n0,listen=127.0.0.1:{port}",
                        "-device", f"{model},netdev=n0,mac=52:54:00:00:00:01"])
    b = QemuHost(work, smp=2, mem_mb=256, name="b", esp=esp(work, "b", "10.0.0.2/24"),
                 extra=["-netdev", f"socket,id=n0,connect=127.0.0.1:{port}",
                        "-device", f"{model},netdev=n0,mac=52:54:00:00:00:02"])
    try:
        a.start()
        b.start()
        a.wait_prompt()
        b.wait_prompt()
        ping = a.command("ping 10.0.0.2 10", timeout=60)
        bench = a.command(f"net bench 10.0.0.2 {seconds}", timeout=seconds + 60)
        m = re.search(r"^bench: .*$", bench, re.M)
        p = re.search(r"min=(\S+) avg=(\S+) max=(\S+) ms", ping)
        print(f"model={model} {m.group(0) if m else bench.strip()} "
              f"ping_avg_ms={p.group(2) if p else '?'}")
    finally:
        a.stop()
        b.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    secs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    for model in ("e1000", "virtio-net-pci"):
        run(model, secs)
