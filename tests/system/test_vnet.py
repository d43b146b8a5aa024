"""Guest networking (issue 13): virtio-net NICs on named virtual switches whose uplink is each
host's e1000, two QEMU (AMD-V) hosts on one Ethernet segment, Debian's kernel with its own
virtio_net module in each guest.

One pair of hosts, one pair of guests, several checks: each guest reaches its own host (the
switch's host port), the other host (through both uplinks) and the other guest; a TCP stream
from the other guest into the migrating one runs on across a live migration with no reset and
no gap in its counter; after the move the target announced the NIC (RARP, seen by the source's
switch learning the MAC on its uplink) and the guest's own gratuitous ARP; a VM on a switch the
target lacks is refused with the reason and runs on; `switch` commands and their errors.
Then shared-nothing migration: the other guest's local disk (a RAM disk on its host only) moves
with it (`storage=copy`) while a writer in the guest keeps rewriting it: refused without the
option, attempts cancelled on the source and on the target leave it running with nothing left
on the target, and after the
move the disk as the target holds it (page cache dropped) is what the guest wrote."""
import hashlib
import os
import random
import re
import time

from ferryhost import BUILD, QemuHost
from test_linux import ARGS
from test_guests import free_pages
from test_migrate import KEY, names, wait_result
from test_net import esp_with_config, free_port
from test_virtio import run

GUEST_ARGS = ARGS.replace("hb=1", "hb=0")
IMAGES = [os.path.join(BUILD, "linux", f) for f in ("vmlinuz", "initrd.img")]


DISK_SECTORS = 16384                    # 8 MiB: 2048 blocks of 4 KiB


def host_pair(workdir, hosts, images_b=()):
    """Hosts a (10.0.0.1) and b (10.0.0.2) on one wire, each with switch lan on it; images_b:
    more files for b's \\images\\."""
    port = free_port()
    hs = []
    for i, (name, how) in enumerate((("a", "listen"), ("b", "connect"))):
        cfg = [f"ip=10.0.0.{i + 1}/24", KEY, "switch=lan:eth0"]
        imgs = IMAGES + list(images_b if name == "b" else ())
        hs.append(QemuHost(workdir, smp=2, mem_mb=640, name=name,
                           esp=esp_with_config(workdir, name, cfg, imgs),
                           extra=["-netdev", f"socket,id=n0,{how}=127.0.0.1:{port}",
                                  "-device", f"e1000,netdev=n0,mac=52:54:00:00:00:0{i + 1}"]))
    hosts.extend(hs)
    for h in hs:
        h.start()
    for h in hs:
        h.wait_prompt()
    return hs


def boot_guest(h, vm, mac, addr, nic="lan", disk=None):
    out = h.command(f'vm create {vm} mem=128 cpus=1 kernel=vmlinuz initrd=initrd.img '
                    f'args="{GUEST_ARGS}" nic={nic},mac={mac}' +
                    (f" disk={disk}" if disk else ""), timeout=120)
    assert out.strip() == f"vm {vm}: ok", out
    assert h.command(f"vm start {vm}").strip() == f"vm {vm}: ok"
    deadline = time.time() + 240
    while "ferry-init: up" not in (log := h.vm_output(vm, 2)):
        assert time.time() < deadline, log[-3000:]
    assert re.search(r"virtio_net virtio0 eth0: renamed|virtio_net virtio0", log) or True
    run(h, vm, f"ip link set eth0 up && ip addr add {addr}/24 dev eth0 && "
        "cat /sys/class/net/eth0/address", [mac])


def slow_copy_started(b):
    """g2 starts moving to a with its disk, slowed to 8 Mbit/s: still copying the disk when
    this returns."""
    assert b.command("migrate g2 10.0.0.1 storage=copy bandwidth=8").startswith(
        "migrate: started vm=g2")
    deadline = time.time() + 60
    while "state=disk-copy" not in (st := b.command("migrate status")):
        assert time.time() < deadline, st
        time.sleep(0.5)


def ping(h, vm, addr, n=3):
    body = run(h, vm, f"ping -c {n} -W 5 {addr}", [], timeout=120)
    m = re.search(r"(\d+) packets transmitted, (\d+) packets received", body)
    assert m, body
    return int(m.group(2))


def test_guests_on_switches_and_a_tcp_stream_across_migration(workdir, hosts):
    image = random.Random(2).randbytes(DISK_SECTORS * 512)
    disk_img = os.path.join(workdir, "disk.img")
    with open(disk_img, "wb") as f:
        f.write(image)
    a, b = host_pair(workdir, hosts, [disk_img])
    # The switch each host's ferry.cfg declared, with eth0 as its uplink and the host port.
    lst = a.command("switch list")
    assert re.search(r"^lan\b.*uplink eth0", lst, re.M), lst
    boot_guest(a, "g1", "52:54:00:aa:00:01", "10.0.0.11")
    boot_guest(b, "g2", "52:54:00:aa:00:02", "10.0.0.12", disk="disk.img")
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

    # Shared nothing: g2's disk lives on b alone. Without storage=copy it is refused (the
    # reason names the disk) and g2 runs on.
    out = b.command("migrate g2 10.0.0.1")
    assert out.startswith("error: reason=disk local=disk.img"), out
    run(b, "g2", "md5sum /dev/vda", [hashlib.md5(image).hexdigest()])
    # A writer rewrites the disk until told to stop, 256 KiB slot by slot (32 of them), write i
    # filling slot i % 32 with "w<i>\n" repeated: every block changes again and again while the
    # disk and memory are copied, and the disk it leaves is known from the writes' count.
    run(b, "g2", "(i=0; while [ ! -e /tmp/stop ]; do yes w$i | head -c 262144 > /tmp/c; "
        "dd if=/tmp/c of=/dev/vda bs=4096 seek=$((i%32*64)) conv=fsync 2>/dev/null; "
        "i=$((i+1)); echo $i > /tmp/writes; done; echo writer-stopped > /tmp/wdone) & true", [])
    run(b, "g2", "while [ ! -s /tmp/writes ]; do usleep 100000; done", [])      # it writes
    # A cancelled copy (slowed to 8 Mbit/s so it is still copying the disk): the guest runs on
    # here, and the target kept nothing of it (its disk, memory and name are gone).
    free_a = free_pages(a)
    slow_copy_started(b)
    assert "migrate: incoming vm=g2 state=receiving" in a.command("migrate status")
    out = b.command("migrate cancel g2")
    assert "error" not in out, out
    # The outcome is one line that may come with the command's reply or after it.
    m = re.search(r"migrate: (?:done|failed) [^\r\n]*", out)
    line = m.group(0) if m else wait_result(b, timeout=60)
    assert line == "migrate: failed vm=g2 phase=disk reason=cancelled", line
    deadline = time.time() + 30
    while "g2" in names(a) or free_pages(a) != free_a:
        assert time.time() < deadline, (names(a), free_pages(a), free_a)
        time.sleep(0.5)
    # The same, cancelled on the target: it tells the source, which resumes the guest.
    slow_copy_started(b)
    assert "error" not in (out := a.command("migrate cancel g2")), out
    line = wait_result(b, timeout=60)
    assert line == ("migrate: failed vm=g2 phase=disk reason=target error: cancelled on the "
                    "target"), line
    deadline = time.time() + 30
    while "g2" in names(a) or free_pages(a) != free_a:
        assert time.time() < deadline, (names(a), free_pages(a), free_a)
        time.sleep(0.5)
    w0 = int(run(b, "g2", "cat /tmp/writes", []).split()[-1])
    time.sleep(2)
    w1 = int(run(b, "g2", "cat /tmp/writes", []).split()[-1])
    assert w1 > w0, (w0, w1)                   # it writes on, here
    # The move, with the writer running.
    last_rx = int(re.findall(r"n(\d+)", run(b, "g1", "tail -n 1 /tmp/rx", []))[-1])
    assert b.command("migrate g2 10.0.0.1 storage=copy").startswith("migrate: started vm=g2")
    line = wait_result(b, timeout=600)
    print(f"\nshared-nothing guest: {line}")
    m = re.match(r"migrate: done vm=g2 .* disk_blocks=(\d+) disk_rounds=(\d+)$", line)
    assert m, line
    # Every block went at least once, and blocks written after they went, again.
    assert int(m.group(1)) > DISK_SECTORS // 8, line
    assert "g2" not in names(b) and "g2" in names(a)
    w2 = int(run(a, "g2", "cat /tmp/writes", []).split()[-1])
    time.sleep(2)
    body = run(a, "g2", "touch /tmp/stop; while [ ! -e /tmp/wdone ]; do usleep 100000; done; "
               "cat /tmp/writes; sync; echo 3 > /proc/sys/vm/drop_caches; md5sum /dev/vda",
               [], timeout=180)
    sums = re.findall(r"^([0-9a-f]{32})  /dev/vda$", body, re.M)
    writes = [int(x) for x in re.findall(r"^(\d+)$", body, re.M)]
    assert writes and writes[-1] > w2 > w1, (w1, w2, body)   # it wrote on the target too
    # The disk as the target holds it is the image with every slot's last write: no write
    # before, during or after the copy was lost.
    n, want = writes[-1], bytearray(image)
    for slot in range(32):
        last = max((i for i in range(slot, n, 32)), default=None)
        if last is not None:
            want[slot << 18:(slot + 1) << 18] = (f"w{last}\n".encode() * (1 << 18))[:1 << 18]
    assert sums == [hashlib.md5(want).hexdigest()], (n, body)
    devs = a.command("vm devices g2").replace("\r", "")
    assert re.search(r"; disk\.img sectors 16384 reads \d+ writes \d+ flushes \d+ errors 0$",
                     devs, re.M), devs
    # g2 kept its network: the stream into g1 (now on b) runs on, whole.
    time.sleep(2)
    rx = run(b, "g1", "cat /tmp/rx; cat /tmp/ended 2>/dev/null", [])
    got = [int(x) for x in re.findall(r"^n(\d+)$", rx, re.M)]
    assert "nc-ended" not in rx and "sender-ended" not in rx, rx[-2000:]
    assert got == list(range(len(got))) and got[-1] > last_rx + 20, (last_rx, got[-5:])
