#!/usr/bin/env python3
"""Live-migration benchmark: two QEMU TCG hosts (AMD-V) on one segment (socket netdev,
virtio-net). In one run: `net bench` on the link, then for each guest a migration A -> B,
printing one line per case:

  case=<name> mem_mib=.. nonzero_pages=.. pages_sent=.. sent_per_nonzero=.. zero_pages=..
  rounds=.. total_ms=.. downtime_ms=.. budget_ms=.. within_budget=yes|NO mig_mibps=..
  net_mibps=.. mig_vs_net=.. throttle=..

or the `migrate: failed ...` line (a guest that cannot be brought under the budget within
the time limit ends with reason=no-convergence).

nonzero_pages is what the guest held just before the migration (`vm stats`): the least a
migration must send. pages_sent counts every page record, resends and zero flags included.

With --tls the hosts boot twice in the same run, with migrate_tls=on (the default: TLS 1.2,
ECDHE-PSK, ChaCha20-Poly1305) and then off (cleartext), the idle and dirtying cases run on
each, and a last line per case gives the rate with encryption over the rate without.

    bench/migrate.py [mem_mib] [--tls]     (run `make` first; default 64)
"""
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "system"))
from ferryhost import BUILD, QemuHost, free_port  # noqa: E402

KEY = "cluster_key=ferry-bench-cluster-key-01"
CASES = [  # name, vm options, migrate options
    ("idle", 'cpus=1 args="mode=idle"', ""),
    ("dirtying", 'cpus=2 args="hb=16 pages=8"', ""),
    ("dirtying-no-throttle", 'cpus=2 args="hb=16 pages=8"', " throttle=0"),
]


def esp(work, name, lines, images=()):
    d = os.path.join(work, f"esp-{name}")
    shutil.copytree(os.path.join(BUILD, "esp"), d)
    with open(os.path.join(d, "ferry.cfg"), "a") as f:
        f.write("".join(l + "\n" for l in lines))
    if images:
        os.makedirs(os.path.join(d, "images"), exist_ok=True)
        for path in images:
            shutil.copy(path, os.path.join(d, "images", os.path.basename(path)))
    return d


def boot_pair(work, mem, tag, hosts, cfg=(), images=()):
    """Hosts a (10.0.0.1, with images) and b (10.0.0.2) on one socket link, appended to hosts
    (the caller stops them), booted and past a ping: (a, b)."""
    port = free_port()
    for name, ip, how in (("a", "10.0.0.1", f"listen=127.0.0.1:{port}"),
                          ("b", "10.0.0.2", f"connect=127.0.0.1:{port}")):
        h = QemuHost(work, smp=3, mem_mb=max(512, 4 * mem), name=f"{name}-{tag}",
                     esp=esp(work, f"{name}-{tag}", [f"ip={ip}/24", KEY, *cfg],
                             images if name == "a" else ()),
                     extra=["-netdev", f"socket,id=n0,{how}", "-device",
                            f"virtio-net-pci,netdev=n0,mac=52:54:00:00:00:0{len(hosts) + 1}"])
        hosts.append(h)
        h.start()
    a, b = hosts[-2:]
    a.wait_prompt()
    b.wait_prompt()
    a.command("ping 10.0.0.2 2", timeout=60)
    return a, b


def vm_pages(h, vm):
    m = re.search(r"^memory pages (\d+) nonzero (\d+)$", h.command(f"vm stats {vm}"), re.M)
    return int(m.group(1)), int(m.group(2))


def run_pair(work, mem, cases, tls):
    """Boots hosts a and b (migrate_tls=tls), runs the cases: {case: MiB/s}."""
    hosts = []
    rates = {}
    try:
        a, b = boot_pair(work, mem, f"tls-{tls}", hosts, cfg=[f"migrate_tls={tls}"])
        bench = a.command("net bench 10.0.0.2 5", timeout=90)
        net = float(re.search(r"bench: mbps=([\d.]+)", bench).group(1))
        net_mib = net * 1e6 / 8 / 2**20
        print(f"tls={tls} net bench: {net} Mbit/s = {net_mib:.2f} MiB/s", flush=True)
        for i, (name, opts, mopts) in enumerate(cases):
            vm = f"v{i}"
            a.command(f"vm create {vm} mem={mem} {opts}")
            a.command(f"vm start {vm}")
            a.wait_heartbeats(vm, 0, 3, timeout=120)
            _, nonzero = vm_pages(a, vm)
            a.command(f"migrate {vm} 10.0.0.2{mopts}")
            a.expect(r"(migrate: (done|failed) [^\r\n]*)\r?\n", timeout=900)
            line = a.con.match.group(1)
            m = re.match(r"migrate: done vm=\S+ total_ms=(\d+) downtime_ms=(\d+) "
                         r"(?:target_downtime_ms=\d+ )?budget_ms=(\d+) "
                         r"rounds=(\d+) pages=(\d+) zero_pages=(\d+) bytes=(\d+) mbps=([\d.]+) "
                         r"(?:streams=\d+ )?throttle=(\d+)", line)
            if not m:
                print(f"case={name} tls={tls} {line}", flush=True)
                continue
            total, down, budget, rounds, pages, zero, nbytes, _, thr = m.groups()
            mig_mib = int(nbytes) / 2**20 / (int(total) / 1000)
            rates[name] = mig_mib
            print(f"case={name} tls={tls} mem_mib={mem} nonzero_pages={nonzero} pages_sent={pages} "
                  f"sent_per_nonzero={int(pages) / max(nonzero, 1):.2f} zero_pages={zero} "
                  f"rounds={rounds} total_ms={total} downtime_ms={down} budget_ms={budget} "
                  f"within_budget={'yes' if int(down) <= int(budget) else 'NO'} "
                  f"mig_mibps={mig_mib:.2f} net_mibps={net_mib:.2f} "
                  f"mig_vs_net={mig_mib / net_mib:.2f} throttle={thr}", flush=True)
            b.command(f"vm destroy {vm}")
    finally:
        for h in hosts:
            h.stop()
    return rates


def main(mem, tls):
    work = tempfile.mkdtemp(prefix="ferry-bench-mig-")
    try:
        if not tls:
            run_pair(work, mem, CASES, "on")
            return
        cases = CASES[:2]
        on = run_pair(work, mem, cases, "on")
        off = run_pair(work, mem, cases, "off")
        for name, _, _ in cases:
            if name in on and name in off:
                print(f"case={name} tls_on_mibps={on[name]:.2f} tls_off_mibps={off[name]:.2f} "
                      f"on_vs_off={on[name] / off[name]:.2f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--tls"]
    main(int(args[0]) if args else 64, "--tls" in sys.argv[1:])
