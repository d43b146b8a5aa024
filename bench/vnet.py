#!/usr/bin/env python3
"""Guest networking benchmark (issue 13): two QEMU TCG hosts on one segment (socket netdev,
e1000), each with switch `lan` on its e1000 and a Linux guest (virtio-net) on it. Measured in
one run, side by side:

  - host to host: ferry's own `net bench` from A to B (TCP to B's discard server);
  - guest to guest across the wire (g2 on B sends to g1 on A) and guest to host (g2 to host
    A's discard server), each `dd ... | nc` of the same amount, timed by the guest's uptime;
  - a live migration of g1 from A to B while g2 pings it every 100 ms: the echo requests that
    got no reply, and the longest gap between replies, against the migration's downtime.

    bench/vnet.py [MiB]            (run `make` first; default 8 MiB per transfer)
"""
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "system"))
from test_migrate import wait_result  # noqa: E402
from test_virtio import run  # noqa: E402
from test_vnet import boot_guest, host_pair  # noqa: E402


def transfer(h, vm, addr, port, mib):
    """Seconds for the guest to send mib MiB to addr:port (TCP), by its own clock."""
    body = run(h, vm, "s=$(cut -d' ' -f1 /proc/uptime); "
               f"dd if=/dev/zero bs=65536 count={mib * 16} 2>/dev/null | nc {addr} {port}; "
               "e=$(cut -d' ' -f1 /proc/uptime); echo took $s $e", [], timeout=900)
    m = re.findall(r"^took ([\d.]+) ([\d.]+)$", body, re.M)
    s, e = float(m[-1][0]), float(m[-1][1])
    return e - s


def main():
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    work = tempfile.mkdtemp(prefix="ferry-bench-vnet-")
    hosts = []
    try:
        a, b = host_pair(work, hosts)
        boot_guest(a, "g1", "52:54:00:aa:00:01", "10.0.0.11")
        boot_guest(b, "g2", "52:54:00:aa:00:02", "10.0.0.12")
        secs = 10
        out = a.command(f"net bench 10.0.0.2 {secs}", timeout=secs + 60)
        m = re.search(r"mbps=([\d.]+)", out)
        host_mbps = float(m.group(1)) if m else float("nan")
        run(a, "g1", "(sleep 100000 | nc -l -p 5001 > /dev/null) & true", [])
        t = transfer(b, "g2", "10.0.0.11", 5001, mib)
        g2g = mib * 8 * 1.048576 / t
        t = transfer(b, "g2", "10.0.0.1", 5001, mib)
        g2h = mib * 8 * 1.048576 / t
        print(f"host->host net bench: {host_mbps:.1f} Mbit/s")
        print(f"guest->guest (across the wire): {g2g:.1f} Mbit/s = {g2g / host_mbps:.2f}x")
        print(f"guest->host (across the wire): {g2h:.1f} Mbit/s = {g2h / host_mbps:.2f}x")
        # Pings every 100 ms from g2 to g1 while g1 moves from A to B.
        run(b, "g2", "(ping -i 0.1 10.0.0.11 > /tmp/ping 2>&1) & true", [])
        time.sleep(3)
        assert a.command("migrate g1 10.0.0.2").startswith("migrate: started vm=g1")
        line = wait_result(a, timeout=900)
        time.sleep(3)
        body = run(b, "g2", "killall ping; sleep 1; cat /tmp/ping", [])
        seqs = [(int(s), float(t)) for s, t in
                re.findall(r"seq=(\d+) ttl=\d+ time=([\d.]+) ms", body)]
        got = sorted(s for s, _ in seqs)
        lost = (got[-1] - got[0] + 1) - len(got) if got else -1
        gap = max((y - x for x, y in zip(got, got[1:])), default=0) * 0.1
        print(f"migration: {line}")
        print(f"ping every 100 ms during it: {len(got)} replies, {lost} lost, "
              f"longest gap {gap:.1f} s")
    finally:
        for h in hosts:
            h.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
