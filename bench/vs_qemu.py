#!/usr/bin/env python3
"""ferry's live migration side by side with QEMU's own, in one run, on the same workload.

The workload is mbtest's dirtier (tests/guest/mbtest, "dirty mem=M ws=W kibps=K"): a Multiboot
kernel that rewrites W MiB of its M MiB page after page at K KiB/s of its own time (ACPI PM
timer), every word of each page with that lap's pattern (nothing compresses), after checking
that the page still holds the last lap's. Both sides boot the same ELF.

- ferry: two QEMU TCG hosts (AMD-V, virtio-net over a socket netdev, TLS on) run ferry; `net
  bench` measures their link; the guest runs under ferry on host a and moves to b with the
  default budget (downtime=300) and auto-converge (throttle up to 99), compress=auto and then
  compress=off.
- QEMU: two qemu-system-x86_64 TCG processes on this machine run the same kernel directly;
  QEMU's migration moves it over TCP on 127.0.0.1 with auto-converge on, downtime-limit=300 ms
  and max-bandwidth set to the rate `net bench` measured on ferry's link.

The dirty rate is set relative to that link rate (`--rates`, fractions of it). For each case
and system one line:

  case=<rate> dirty_kibps=.. achieved_kibps=.. system=ferry|ferry-nocomp|qemu guest_pages=..
  pages_sent=.. sent_per_guest_page=..
  rounds=.. total_ms=.. downtime_ms=.. throttle=.. [ratio=..] target_ok=yes|NO

pages_sent counts every page either side put on the wire, zero pages (flags, QEMU's
"duplicate") included; rounds are ferry's pre-copy rounds and QEMU's dirty-bitmap syncs.
Each migration starts once the dirtier is in its second lap: every page of its set then holds
data it checks when it next rewrites it. target_ok: the guest went on checking its pages on
the target (it wrote and checked more after the move, and reported no lost word). achieved_kibps: the rate the
dirtier reached before the migration (an emulated CPU may fall short of what was asked).

    bench/vs_qemu.py [mem_mib] [--ws MIB] [--rates 0.25,0.6]   (run `make` first; default 64)
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "system"))
from ferryhost import BUILD, free_port  # noqa: E402
from migrate import boot_pair  # noqa: E402  (bench/migrate.py)

MBTEST = os.path.join(BUILD, "guest", "mbtest.elf")


def laps(out):
    return [(int(a), int(b)) for a, b in re.findall(r"MBTEST dirty lap=(\d+) pages=(\d+) ok", out)]


def started(out):
    """The dirtier is past its first lap (so every page of its set holds data it checks when
    it comes round again) and has reported a few seconds."""
    seen = laps(out)
    return len(seen) >= 4 and seen[-1][0] >= 2


def achieved(out):
    """KiB/s the dirtier reached over its last few one-second lines (it cannot make up a
    stall: an emulated CPU may fall short of the rate asked for)."""
    seen = laps(out)[-4:]
    return (seen[-1][1] - seen[0][1]) * 4 // max(1, len(seen) - 1) if len(seen) > 1 else 0


def ferry_cases(work, mem, ws, rates):
    """Boots two ferry hosts; the link's rate (bytes/s) and {(rate, system): fields}."""
    hosts, res = [], {}
    try:
        a, b = boot_pair(work, mem, "vs", hosts, images=[MBTEST])
        bench = a.command("net bench 10.0.0.2 5", timeout=90)
        link = float(re.search(r"bench: mbps=([\d.]+)", bench).group(1)) * 1e6 / 8
        print(f"ferry link (net bench): {link * 8 / 1e6:.1f} Mbit/s = {link / 2**20:.2f} MiB/s",
              flush=True)
        for i, frac in enumerate(rates):
            kibps = max(1, int(link * frac / 1024))
            for system, opts in (("ferry", ""), ("ferry-nocomp", " compress=off")):
                vm = f"d{i}{len(system)}"
                a.command(f'vm create {vm} mem={mem} cpus=1 kernel=mbtest.elf '
                          f'args="dirty mem={mem} ws={ws} kibps={kibps}"', timeout=120)
                a.command(f"vm start {vm}")
                deadline = time.time() + 120
                while not started(out := a.vm_output(vm, 2)) and time.time() < deadline:
                    pass
                got = achieved(out)
                a.command(f"migrate {vm} 10.0.0.2{opts}")
                a.expect(r"(migrate: (done|failed) [^\r\n]*)\r?\n", timeout=900)
                line = a.con.match.group(1)
                m = re.match(r"migrate: done vm=\S+ total_ms=(\d+) downtime_ms=(\d+) .*?"
                             r"rounds=(\d+) pages=(\d+) .*?throttle=(\d+) compress=\S+ "
                             r"ratio=([\d.]+)", line)
                if not m:
                    print(f"case={frac} system={system} {line}", flush=True)
                    a.command(f"vm destroy {vm}")
                    continue
                seen = laps(b.vm_output(vm, 5))
                ok = len(seen) >= 2 and "MBTEST fail" not in b.vm_output(vm, 1)
                res[(frac, system)] = dict(
                    total_ms=int(m.group(1)), downtime_ms=int(m.group(2)),
                    rounds=int(m.group(3)), pages_sent=int(m.group(4)),
                    throttle=int(m.group(5)), ratio=m.group(6), target_ok=ok, kibps=kibps,
                    achieved=got)
                b.command(f"vm destroy {vm}")
        return link, res
    finally:
        for h in hosts:
            h.stop()


class Qmp:
    def __init__(self, path):
        deadline = time.time() + 30
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                self.f = self.s.makefile("rw")
                json.loads(self.f.readline())           # the greeting
                break
            except (OSError, ValueError):               # not up yet, or reset while starting
                self.s.close()
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if "return" in r:
                return r["return"]
            if "error" in r:
                raise RuntimeError(f"{name}: {r['error']}")


def qemu_case(work, mem, ws, kibps, link):
    """QEMU's migration of the same kernel, capped to ferry's link rate."""
    procs = []
    try:
        port = free_port()
        qmps = {}
        for side in ("src", "dst"):
            for stale in (f"{work}/qemu-{side}.qmp", f"{work}/qemu-{side}.log"):
                if os.path.exists(stale):               # the previous case's
                    os.remove(stale)
            argv = ["timeout", "-s", "KILL", "900", "qemu-system-x86_64", "-accel", "tcg",
                    "-m", str(mem), "-kernel", MBTEST,
                    "-append", f"dirty mem={mem} ws={ws} kibps={kibps}",
                    "-display", "none", "-monitor", "none", "-nodefaults",
                    "-serial", f"file:{work}/qemu-{side}.log",
                    "-qmp", f"unix:{work}/qemu-{side}.qmp,server=on,wait=off"]
            if side == "dst":
                argv += ["-incoming", f"tcp:127.0.0.1:{port}"]
            procs.append(subprocess.Popen(argv, cwd=work, start_new_session=True,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            qmps[side] = Qmp(f"{work}/qemu-{side}.qmp")
        src = qmps["src"]
        deadline = time.time() + 120
        while not started(open(f"{work}/qemu-src.log").read()) and time.time() < deadline:
            time.sleep(0.5)
        got = achieved(open(f"{work}/qemu-src.log").read())
        src.cmd("migrate-set-capabilities",
                capabilities=[{"capability": "auto-converge", "state": True}])
        src.cmd("migrate-set-parameters", **{"downtime-limit": 300,
                                             "max-bandwidth": int(link)})
        src.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
        deadline = time.time() + 900
        while True:
            st = src.cmd("query-migrate")
            if st.get("status") in ("completed", "failed", "cancelled"):
                break
            if time.time() > deadline:
                src.cmd("migrate_cancel")
                return {"status": "timeout"}
            time.sleep(0.5)
        if st["status"] != "completed":
            return {"status": st["status"], "error": st.get("error-desc", "")}
        n = len(laps(open(f"{work}/qemu-dst.log").read()))
        time.sleep(3)
        out = open(f"{work}/qemu-dst.log").read()
        ram = st["ram"]
        return dict(status="completed", total_ms=st["total-time"], downtime_ms=st["downtime"],
                    rounds=ram.get("dirty-sync-count", 0),
                    pages_sent=ram["normal"] + ram["duplicate"],
                    throttle=st.get("cpu-throttle-percentage", 0), achieved=got,
                    target_ok=len(laps(out)) > n and "MBTEST fail" not in out)
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, 9)
            except ProcessLookupError:
                pass
            p.wait()


def main():
    args = sys.argv[1:]
    mem, ws, rates = 64, 32, [0.25, 0.6]
    if "--ws" in args:
        i = args.index("--ws")
        ws = int(args[i + 1])
        del args[i:i + 2]
    if "--rates" in args:
        i = args.index("--rates")
        rates = [float(x) for x in args[i + 1].split(",")]
        del args[i:i + 2]
    if args:
        mem = int(args[0])
    work = tempfile.mkdtemp(prefix="ferry-bench-vsqemu-")
    try:
        link, res = ferry_cases(work, mem, ws, rates)
        pages = mem * 256
        for frac in rates:
            kibps = max(1, int(link * frac / 1024))
            q = qemu_case(work, mem, ws, kibps, link)
            if q.get("status") == "completed":
                res[(frac, "qemu")] = dict(q, kibps=kibps)
            else:
                print(f"case={frac} system=qemu {q}", flush=True)
            for system in ("ferry", "ferry-nocomp", "qemu"):
                r = res.get((frac, system))
                if not r:
                    continue
                ratio = f" ratio={r['ratio']}" if "ratio" in r else ""
                print(f"case={frac} dirty_kibps={r['kibps']} achieved_kibps={r['achieved']} "
                      f"system={system} guest_pages={pages} "
                      f"pages_sent={r['pages_sent']} "
                      f"sent_per_guest_page={r['pages_sent'] / pages:.2f} rounds={r['rounds']} "
                      f"total_ms={r['total_ms']} downtime_ms={r['downtime_ms']} "
                      f"throttle={r['throttle']}{ratio} "
                      f"target_ok={'yes' if r['target_ok'] else 'NO'}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
