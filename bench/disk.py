#!/usr/bin/env python3
"""Guest disk benchmark (issue 13): one QEMU TCG host whose NIC is on QEMU user networking
(10.0.2.2 is this machine), a real nbd-server on this machine, Debian's kernel as the guest.
Measured in one run, side by side:

  - the NBD server's own rate: QEMU's NBD client (qemu-io) reading and writing the export over
    loopback TCP on this machine, in requests of the size Linux's virtio_blk sends here;
  - a ferry guest whose virtio-blk is that export (disk=nbd://10.0.2.2:PORT/disk): `dd` reads
    (page cache dropped first) and writes (conv=fsync), timed by the guest's uptime;
  - a ferry guest on a RAM disk (disk=FILE, held in the host's memory): the same `dd`s, the
    device and guest path without the network.

    bench/disk.py [MiB]            (run `make` first; default 16 MiB per transfer)
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "system"))
from ferryhost import BUILD, QemuHost  # noqa: E402
from test_linux import ARGS  # noqa: E402
from test_migrate import KEY  # noqa: E402
from test_nbd import nbd_server  # noqa: E402
from test_net import esp_with_config  # noqa: E402
from test_virtio import run  # noqa: E402

GUEST_ARGS = ARGS.replace("hb=1", "hb=0")
IMAGES = [os.path.join(BUILD, "linux", f) for f in ("vmlinuz", "initrd.img")]
EXPORT_MIB = 64
REQ = 256 * 1024        # Linux's requests on this virtio-blk (max_sectors 512 KiB, dd's 1 MiB split)


def qemu_io_rate(uri, op, mib):
    """MiB/s qemu-io reports for `op` (read or write) of mib MiB in REQ-sized requests."""
    # One qemu-io process, each request its own -c command (one at a time, as dd's are).
    cmd = ["qemu-io", "-f", "raw"]
    for i in range(mib * 1024 * 1024 // REQ):
        cmd += ["-c", f"{'write -P 0x5a' if op == 'write' else 'read'} {i * REQ} {REQ}"]
    if op == "write":
        cmd += ["-c", "flush"]
    t = time.monotonic()
    subprocess.run(cmd + [uri], check=True, capture_output=True, timeout=300)
    return mib / (time.monotonic() - t)


def guest_rates(h, vm, mib):
    """(read, write) MiB/s of the guest's dd on /dev/vda, by its own clock."""
    rates = []
    for line in (f"echo 3 > /proc/sys/vm/drop_caches; s=$(cut -d' ' -f1 /proc/uptime); "
                 f"dd if=/dev/vda of=/dev/null bs=1M count={mib} 2>/dev/null; "
                 "e=$(cut -d' ' -f1 /proc/uptime); echo took $s $e",
                 f"s=$(cut -d' ' -f1 /proc/uptime); dd if=/dev/zero of=/dev/vda bs=1M "
                 f"count={mib} conv=fsync 2>/dev/null; e=$(cut -d' ' -f1 /proc/uptime); "
                 "echo took $s $e"):
        body = run(h, vm, line, [], timeout=1200)
        s, e = re.findall(r"^took ([\d.]+) ([\d.]+)$", body, re.M)[-1]
        rates.append(mib / (float(e) - float(s)))
    return rates


def boot(h, vm, disk):
    out = h.command(f'vm create {vm} mem=128 cpus=1 kernel=vmlinuz initrd=initrd.img '
                    f'args="{GUEST_ARGS}" disk={disk}', timeout=120)
    assert out.strip() == f"vm {vm}: ok", out
    assert h.command(f"vm start {vm}").strip() == f"vm {vm}: ok"
    deadline = time.time() + 300
    while "ferry-init: up" not in h.vm_output(vm, 2):
        assert time.time() < deadline, h.vm_output(vm, 1)[-3000:]


def main():
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    assert mib <= EXPORT_MIB
    work = tempfile.mkdtemp(prefix="ferry-bench-disk-")
    hosts = []
    try:
        with nbd_server(work, EXPORT_MIB * 2048) as (port, path):
            ram_img = os.path.join(work, "ram.img")
            with open(ram_img, "wb") as f:
                f.write(os.urandom(EXPORT_MIB << 20))
            h = QemuHost(work, smp=2, mem_mb=768, name="a",
                         esp=esp_with_config(work, "a", ["ip=10.0.2.15/24", KEY],
                                             IMAGES + [ram_img]),
                         extra=["-netdev", "user,id=n0", "-device", "e1000,netdev=n0"])
            hosts.append(h)
            h.start().wait_prompt()
            uri = f"nbd://127.0.0.1:{port}/disk"
            srv_r = qemu_io_rate(uri, "read", mib)
            srv_w = qemu_io_rate(uri, "write", mib)
            boot(h, "n", f"nbd://10.0.2.2:{port}/disk")
            nbd_r, nbd_w = guest_rates(h, "n", mib)
            h.command("vm destroy n")
            boot(h, "r", "ram.img")
            ram_r, ram_w = guest_rates(h, "r", mib)
            print(f"{mib} MiB per transfer, {REQ // 1024} KiB requests for qemu-io")
            print(f"nbd-server via qemu-io (loopback): read {srv_r:.1f} MiB/s, "
                  f"write {srv_w:.1f} MiB/s")
            print(f"guest on NBD (virtio-blk over ferry's NBD client): read {nbd_r:.2f} MiB/s "
                  f"= {nbd_r / srv_r:.3f}x, write {nbd_w:.2f} MiB/s = {nbd_w / srv_w:.3f}x")
            print(f"guest on a RAM disk: read {ram_r:.2f} MiB/s, write {ram_w:.2f} MiB/s "
                  f"(NBD/RAM: read {nbd_r / ram_r:.2f}x, write {nbd_w / ram_w:.2f}x)")
    finally:
        for h in hosts:
            h.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
