#!/usr/bin/env python3
"""Linux guest benchmark, side by side in one run on QEMU TCG (AMD-V):

1. Boot time to init: Debian's cloud kernel with the project's initramfs (build/linux/) booted
   directly by QEMU TCG (-kernel/-initrd, -cpu max, N CPUs), then the same kernel, initramfs
   and command line as a ferry guest with N vCPUs (`vm create ... cpus=N kernel= initrd=`)
   inside QEMU TCG (one host CPU for ferry's console, one per vCPU). Both:
   the wall time from start (QEMU's launch / `vm start`) to the init's first line, and the
   guest's own uptime in that line. The ratio ferry/direct is the figure.
2. Idle cost: the same ferry guest idling at its shell (hb=0: no heartbeats): VM exits per
   second by reason, and the QEMU process's CPU use (user+sys) against the same host with no
   VM, measured over the same interval.

    bench/linux.py [idle_seconds] [cpus]       (run `make` first; cpus defaults to 1)
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

ARGS = "console=ttyS0 nokaslr hb=0"
INIT = re.compile(r"ferry-init: up cpus=(\d+) uptime=([\d.]+)")


def direct_boot(work, cpus):
    """QEMU TCG boots the kernel itself: (wall seconds to the init line, guest uptime)."""
    log = os.path.join(work, "direct.log")
    argv = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-smp", str(cpus), "-m", "512",
            "-display", "none", "-nodefaults", "-no-reboot",
            "-kernel", os.path.join(BUILD, "linux", "vmlinuz"),
            "-initrd", os.path.join(BUILD, "linux", "initrd.img"),
            "-append", ARGS, "-serial", f"file:{log}"]
    t0 = time.time()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    try:
        while time.time() - t0 < 300:
            with open(log, errors="replace") if os.path.exists(log) else open(os.devnull) as f:
                m = INIT.search(f.read())
            if m:
                return time.time() - t0, float(m.group(2))
            time.sleep(0.05)
        raise SystemExit("direct boot: no init line in 300 s")
    finally:
        os.killpg(p.pid, 9)
        p.wait()


def cpu_seconds(pgid):
    """user+sys CPU seconds of every process in the group (the harness starts QEMU under
    `timeout` in its own session), from /proc/PID/stat in clock ticks."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:                       # field 5: the process group
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def exits(h, vm):
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^exits (\S+) (\d+)$", h.command(f"vm stats {vm}"), re.M)}


def ferry_boot_and_idle(work, idle, cpus):
    esp = os.path.join(work, "esp")
    shutil.copytree(os.path.join(BUILD, "esp"), esp)
    os.makedirs(os.path.join(esp, "images"))
    for f in ("vmlinuz", "initrd.img"):
        shutil.copy(os.path.join(BUILD, "linux", f), os.path.join(esp, "images", f))
    h = QemuHost(work, smp=cpus + 1, mem_mb=512, esp=esp)
    try:
        h.start().wait_prompt()
        h.command(f'vm create lin mem=128 cpus={cpus} kernel=vmlinuz initrd=initrd.img '
                  f'args="{ARGS}"', timeout=120)
        t0 = time.time()
        h.command("vm start lin")
        while not (m := INIT.search(h.vm_output("lin", 0.2))):
            if time.time() - t0 > 300:
                raise SystemExit("ferry boot: no init line in 300 s")
        boot = (time.time() - t0, float(m.group(2)))
        time.sleep(5)                                   # let the boot's tail settle
        e0, c0, t0 = exits(h, "lin"), cpu_seconds(h.proc.pid), time.time()
        time.sleep(idle)
        e1, c1, t1 = exits(h, "lin"), cpu_seconds(h.proc.pid), time.time()
        guest_cpu = (c1 - c0) / (t1 - t0)
        rate = {k: (e1.get(k, 0) - e0.get(k, 0)) / (t1 - t0) for k in e1}
        h.command("vm destroy lin")
        time.sleep(2)
        c0, t0 = cpu_seconds(h.proc.pid), time.time()
        time.sleep(idle)
        c1, t1 = cpu_seconds(h.proc.pid), time.time()
        empty_cpu = (c1 - c0) / (t1 - t0)
        return boot, rate, guest_cpu, empty_cpu
    finally:
        h.stop()


def main():
    idle = float(sys.argv[1]) if len(sys.argv) > 1 else 20
    cpus = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    work = tempfile.mkdtemp(prefix="ferry-bench-linux-")
    d_wall, d_up = direct_boot(work, cpus)
    (f_wall, f_up), rate, guest_cpu, empty_cpu = ferry_boot_and_idle(work, idle, cpus)
    print(f"boot to init, wall: direct QEMU TCG {d_wall:.1f} s, inside ferry {f_wall:.1f} s, "
          f"ratio {f_wall / d_wall:.2f}")
    print(f"boot to init, guest uptime: direct {d_up:.2f} s, inside ferry {f_up:.2f} s, "
          f"ratio {f_up / d_up:.2f}")
    total = sum(rate.values())
    print(f"idle {cpus}-vCPU guest: {total:.0f} exits/s (" +
          " ".join(f"{k}={v:.0f}" for k, v in sorted(rate.items(), key=lambda x: -x[1]) if v) +
          ")")
    print(f"QEMU process CPU over {idle:.0f} s: with the idle guest {guest_cpu * 100:.0f}% of a "
          f"core, same host without it {empty_cpu * 100:.0f}%")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
