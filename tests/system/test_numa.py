"""NUMA-aware placement on QEMU TCG hosts with two unequal nodes: a VM goes to the node that
fits it; with numa_spanning off a VM larger than any node is refused; with it on its memory
spans both nodes and the guest runs and checks all of it; an incoming migration that fits no
node of a spanning-off target is refused and the guest stays on its source."""
import re

from ferryhost import QemuHost
from test_host import parse_host
from test_migrate import KEY, names, wait_result
from test_net import two_hosts

# Node 0: 448 MiB (cpus 0-1, the BSP's node: ferry's own memory is here); node 1: 192 MiB.
NUMA = [(448, 2), (192, 2)]


def free_mib(h):
    nodes = parse_host(h.command("host"))["nodes"]
    return nodes[0]["free"], nodes[1]["free"]


def vm_nodes(h):
    out = {}
    for line in h.command("vm list").splitlines()[1:]:
        f = line.split()
        if len(f) >= 5:
            out[f[0]] = f[4]
    return out


def even(mib):
    return mib - mib % 2


def test_placement_and_spanning(workdir, hosts):
    h = QemuHost(workdir, smp=4, numa=NUMA, mem_mb=640, name="n")
    hosts.append(h)
    h.start().wait_prompt()
    assert "numa spanning: off" in h.command("host")
    free0, free1 = free_mib(h)
    assert free0 > free1 + 64, (free0, free1)
    # Fits node 0 only (more than node 1 has): placed there, whatever the load.
    a_mib = even(free1 + 16)
    assert "error" not in h.command(f'vm create a mem={a_mib} args="hb=16 pages=4"')
    # Small: node 1 now has the more free memory and no vCPUs; it goes there.
    assert "error" not in h.command('vm create b mem=16 args="hb=16 pages=4"')
    assert vm_nodes(h) == {"a": "0", "b": "1"}
    # Larger than any node's free memory, smaller than both together: refused with the reason.
    free0, free1 = free_mib(h)
    big = even(max(free0, free1) + 24)
    assert big < free0 + free1 - 16, (free0, free1, big)
    out = h.command(f'vm create big mem={big} args="hb=16 pages=4"')
    assert re.search(rf"error: the VM \({big} MiB\) fits no single NUMA node \(most free: "
                     r"node \d with \d+ MiB\) and numa_spanning=off", out), out
    assert "big" not in vm_nodes(h)
    # node=N pins: node 1 cannot hold a.
    out = h.command(f"vm create p mem={a_mib} node=1")
    assert re.search(r"error: node 1 has \d+ MiB free, the VM needs \d+ MiB \(numa_spanning=off\)",
                     out), out
    # Spanning on: the same VM spans both nodes, runs, and its memory checks out everywhere.
    assert "numa spanning: on" in h.command("host numa-spanning on")
    assert "error" not in h.command(f'vm create big mem={big} cpus=2 args="hb=16 pages=16"')
    assert vm_nodes(h)["big"] in ("0+1", "1+0"), vm_nodes(h)
    h.command("vm start big")
    h.command("vm start a")
    h.command("vm start b")
    beats = h.wait_heartbeats("big", 0, 4, timeout=180)
    assert any(x["vcpu"] == 1 for x in beats)
    assert all(x["check"] == "ok" for x in beats), beats
    assert all(x["check"] == "ok" for x in h.wait_heartbeats("a", 0, 2))
    # Destroying gives every node its memory back.
    for vm in ("big", "a", "b"):
        h.command(f"vm destroy {vm}")
    f0, f1 = free_mib(h)
    assert abs(f0 - (free0 + a_mib)) <= 2 and abs(f1 - (free1 + 16)) <= 2, (f0, f1)


def test_incoming_that_fits_no_node_is_refused(workdir, hosts):
    a, b = two_hosts(workdir, hosts, "virtio-net-pci", "virtio-net-pci", cfg_a=[KEY],
                     cfg_b=[KEY], mem_a=768, mem_b=640, qemu_b={"smp": 4, "numa": NUMA})
    free0, free1 = free_mib(b)
    big = even(max(free0, free1) + 24)
    a.command(f'vm create m mem={big} args="hb=16 pages=4"')
    a.command("vm start m")
    a.wait_heartbeats("m", 0, 2, timeout=120)
    a.command("migrate m 10.0.0.2")
    line = wait_result(a)
    assert re.match(r"migrate: failed vm=m phase=hello reason=target refused: the VM "
                    rf"\({big} MiB\) fits no single NUMA node", line), line
    assert names(b) == [] and names(a) == ["m"]
    seq = max(x["seq"] for x in a.heartbeats("m"))
    a.wait_heartbeats("m", 0, seq + 2)
