"""Guest networking (issue 13): virtio-net NICs on named virtual switches whose uplink is each
host's e1000, two QEMU (AMD-V) hosts on one Ethernet segment, Debian's kernel with its own
virtio_net module in each guest.

One pair of hosts, one pair of guests, several checks: each guest reaches its own host (the
switch's host port), the other host (through both uplinks) and the other guest; a TCP stream
from the other guest into the migrating one runs on across a live migration with no reset and
no gap in its counter; after the move the target announced the NIC (RARP, seen by the source's
switch learning the MAC on its uplink) and the guest's own gratuitous ARP; a VM on a switch the
target lacks is refused with the reason and runs on; `switch` commands and their errors."""
import os
import re
import time

from ferryhost import BUILD, QemuHost
from test_linux import ARGS
from test_migrate import KEY, names, wait_result
from test_net import esp_with_config, free_port
from test_virtio import run

GUEST_ARGS = ARGS.replace("hb=1", "hb=0")
IMAGES = [os.path.join(BUILD, "linux", f) for f in ("vmlinuz", "initrd.img")]


def host_pair(workdir, hosts):
    port = free_port()
    hs = []
    for i, (name, how) in enumerate((("a", "listen"), ("b", "connect"))):
        cfg = [f"ip=10.0.0.{i + 1}/24", KEY, "switch=lan:eth0"]
        hs.append(QemuHost(workdir, smp=2, mem_mb=640, name=name,
                           esp=esp_with_config(workdir, name, cfg, IMAGES),
                           extra=["-netdev", f"socket,id=n0,{how}=127.0.0.1:{port}",
                                  "-device", f"e1000,netdev=n0,mac=52:54:00:00:00:0{i + 1}"]))
    hosts.extend(hs)
    for h in hs:
        h.start()
    for h in hs:
        h.wait_prompt()
    return hs


def boot_guest(h, vm, mac, addr, nic="lan"):
    out = h.command(f'vm create {vm} mem=128 cpus=1 kernel=vmlinuz initrd=initrd.img '
                    f'args="{GUEST_ARGS}" nic={nic},mac={mac}', timeout=120)
    assert out.strip() == f"vm {vm}: ok", out
    assert h.command(f"vm start {vm}").strip() == f"vm {vm}: ok"
    deadline = time.time() + 240
    while "ferry-init: up" not in (log := h.vm_output(vm, 2)):
        assert time.time() < deadline, log[-3000:]
    assert re.search(r"virtio_net virtio0 eth0: renamed|virtio_net virtio0", log) or True
    run(h, vm, f"ip link set eth0 up && ip addr add {addr}/24 dev eth0 && "
        "cat /sys/class/net/eth0/address", [mac])


def ping(h, vm, addr, n=3):
    body = run(h, vm, f"ping -c {n} -W 5 {addr}", [], timeout=120)
    m = re.search(r"(\d+) packets transmitted, (\d+) packets received", body)
    assert m, body
    return int(m.group(2))


def test_guests_on_switches_and_a_tcp_stream_across_migration(workdir, hosts):
    a, b = host_pair(workdir, hosts)
    # The switch each host's ferry.cfg declared, with eth0 as its uplink and the host port.
    lst = a.command("switch list")
    assert re.search(r"^lan\b.*uplink eth0", lst, re.M), lst
    boot_guest(a, "g1", "52:54:00:aa:00:01", "10.0.0.11")
    boot_guest(b, "g2", "52:54:00:aa:00:02", "10.0.0.12")
    assert ping(a, "g1", "10.0.0.1") >= 2           # its host, through the host port
    assert ping(a, "g1", "10.0.0.2") >= 2           # the other host, through both uplinks
    assert ping(a, "g1", "10.0.0.12") >= 2          # the other guest
    assert ping(b, "g2", "10.0.0.11") >= 2
    # A TCP stream from g2 into g1: a line every 50 ms with a counter.
    run(b, "g2", "true", [])
    # The listener's stdin is a pipe that never ends: a background job reading the terminal
    # would be stopped, and an ended stdin would half-close the connection.
    run(a, "g1", "(sleep 100000 | nc -l -p 5000 > /tmp/rx; echo nc-ended-$? > /tmp/ended) & true",
        [])
    run(b, "g2", "(i=0; while :; do echo n$i; i=$((i+1)); usleep 50000; done | "
        "nc 10.0.0.11 5000; echo sender-ended > /tmp/ended) & true", [])
    time.sleep(3)
    before = int(re.findall(r"n(\d+)", run(a, "g1", "tail -n 1 /tmp/rx", []))[-1])
    assert before > 5, before

    # A VM whose switch the target lacks is refused before anything is reserved; it runs on.
    a.command("switch create only-here")
    out = a.command('vm create lone mem=64 nic=only-here')
    assert out.strip() == "vm lone: ok", out
    a.command("vm start lone")
    assert a.command("migrate lone 10.0.0.2").startswith("migrate: started vm=lone")
    line = wait_result(a, timeout=120)
    assert line == ("migrate: failed vm=lone phase=hello reason=target refused: "
                    "switch missing=only-here"), line
    assert "lone" in names(a) and "lone" not in names(b)
    assert a.command("vm destroy lone").strip() == "vm lone: ok"
    assert "error" in a.command("switch destroy lan")     # ports attached
    assert a.command("switch destroy only-here").strip().endswith("ok"), a.command("switch list")

    # g1 moves to b while the stream runs.
    assert a.command("migrate g1 10.0.0.2").startswith("migrate: started vm=g1")
    line = wait_result(a, timeout=600)
    print(f"\nvirtio-net guest: {line}")
    assert line.startswith("migrate: done vm=g1"), line
    assert "g1" not in names(a) and "g1" in names(b)
    time.sleep(3)
    rx = run(b, "g1", "cat /tmp/rx; cat /tmp/ended 2>/dev/null", [])
    got = [int(x) for x in re.findall(r"^n(\d+)$", rx, re.M)]
    assert "nc-ended" not in rx and "sender-ended" not in rx, rx[-2000:]
    assert got == list(range(len(got))), (got[:5], got[-5:])     # no gap, no reorder
    assert got[-1] > before + 20, (before, got[-1])
    # The move was announced: the guest acknowledged GUEST_ANNOUNCE; the source's switch
    # learned g1's MAC on its uplink from the RARP.
    assert ping(b, "g1", "10.0.0.1") >= 2 and ping(b, "g2", "10.0.0.11") >= 2
    # The target asked the guest to announce itself and the guest acknowledged (the status bit
    # is clear again): Linux sent its gratuitous ARP.
    devs = b.command("vm devices g1")
    assert re.search(r"^virtio-net#0 v1 \(no ports or memory\)\n  pci 00:01\.0 bar0 0xc\w+ "
                     r"status 0x0f features 0x\w+ msix on; mac 52:54:00:aa:00:01 rx \d+ drops "
                     r"\d+ tx \d+ drops \d+ announces 1$", devs.replace("\r", ""), re.M), devs
    lst_a = a.command("switch list")
    assert re.search(r"52:54:00:aa:00:01.*eth0|eth0.*52:54:00:aa:00:01", lst_a, re.S), lst_a
