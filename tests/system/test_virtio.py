"""Guest disks and NICs over virtio PCI (issue 13), driven by Debian's unmodified kernel and its
own virtio_pci / virtio_blk modules (loaded by the test guest's init) on a QEMU (AMD-V) host.

One boot, several checks: the device as PCI enumerates it, the disk's contents read back
byte for byte (md5 against the image's on this machine), writes that land and read back after
the guest's page cache is dropped, MSI-X interrupts per queue, requests past the end of the
disk failing as I/O errors with the device still working, `vm devices`, the migration refusal
for a local disk, bad disk= options refused with nothing half-created."""
import hashlib
import os
import random
import re
import time

from ferryhost import QemuHost
from test_guests import assert_refused, free_pages
from test_migrate import KEY
from test_linux import ARGS, complaints, esp_with_kernel, type_into

DISK_SECTORS = 16384                    # 8 MiB


def run(h, vm, line, want, timeout=120):
    """Types line; returns the guest's output from the prompt it was typed at to a unique mark
    (the shell prints done-N only when the line is done; the echo spells it as an expression)."""
    run.n = getattr(run, "n", 0) + 1
    n = run.n
    type_into(h, vm, f"{line}; echo done-$(({n}*1))", f"done-{n}\r", timeout=timeout)
    out = h.vm_output(vm, 0.5)
    end = out.rindex(f"\ndone-{n}\n")
    # From the prompt (on a VM that just moved here the console's buffer starts after it).
    body = out[max(out.rfind("/ # ", 0, end), 0):end]
    for w in want:
        assert w in body, (line, w, body)
    return body


def test_virtio_blk_on_a_ram_disk(workdir, hosts):
    esp = esp_with_kernel(workdir)
    rng = random.Random(13)
    image = bytes(rng.getrandbits(8) for _ in range(DISK_SECTORS * 512))
    with open(os.path.join(esp, "images", "disk.img"), "wb") as f:
        f.write(image)
    with open(os.path.join(esp, "images", "odd.img"), "wb") as f:
        f.write(b"x" * 1000)
    with open(os.path.join(esp, "ferry.cfg"), "a") as f:
        f.write(KEY + "\n")
    h = QemuHost(workdir, smp=2, mem_mb=512, esp=esp)
    hosts.append(h)
    h.start().wait_prompt()
    before = free_pages(h)

    refusals = {
        "vm create x mem=128 kernel=vmlinuz initrd=initrd.img disk=nope":
            "error: no disk image 'nope' in \\images\\ on the boot volume",
        "vm create x mem=128 kernel=vmlinuz initrd=initrd.img disk=odd.img":
            "error: disk image 'odd.img' is 1000 bytes: not a whole number of 512-byte sectors",
        "vm create x kernel=vmlinuz disk=disk.img disk=disk.img": "error: bad option 'disk=disk.img'",
        "vm create x mem=128 kernel=vmlinuz disk=memtest": "error: no disk image 'memtest'",
    }
    assert_refused(h, refusals, before)

    # No heartbeats: nothing but the shell writes to the console while a command is typed.
    args = ARGS.replace("hb=1", "hb=0")
    out = h.command(f'vm create lin mem=128 cpus=2 kernel=vmlinuz initrd=initrd.img '
                    f'args="{args}" disk=disk.img', timeout=120)
    assert out.strip() == "vm lin: ok", out
    devs = h.command("vm devices lin")
    assert re.search(r"virtio-blk#0", devs), devs
    assert h.command("vm start lin").strip() == "vm lin: ok"
    deadline = time.time() + 240
    while "ferry-init: up" not in (log := h.vm_output("lin", 2)):
        assert time.time() < deadline, log[-3000:]
    # PCI as Linux found it: the root bridge from the DSDT, the device at 00:01.0 with its BAR
    # in the window, the modern virtio driver bound, the disk's size.
    assert "PCI host bridge to bus 0000:00" in log, log
    assert re.search(r"pci 0000:00:01\.0: \[1af4:1042\] type 00 class 0x018000", log), log
    assert re.search(r"virtio_blk virtio0: \[vda\] 16384 512-byte logical blocks", log), log
    # The whole disk as the guest reads it is the image.
    want = hashlib.md5(image).hexdigest()
    body = run(h, "lin", "md5sum /dev/vda", [want])
    # Writes land on the disk and read back from it (not the page cache): 1 MiB at 4 MiB.
    run(h, "lin", "dd if=/dev/urandom of=/tmp/w bs=4096 count=256 2>/dev/null && "
        "dd if=/tmp/w of=/dev/vda bs=4096 seek=1024 conv=fsync 2>/dev/null && "
        "echo 3 > /proc/sys/vm/drop_caches && md5sum /tmp/w", [])
    w = re.search(r"^([0-9a-f]{32})  /tmp/w$", run(h, "lin", "md5sum /tmp/w", []), re.M).group(1)
    run(h, "lin", "dd if=/dev/vda bs=4096 skip=1024 count=256 2>/dev/null | md5sum", [w])
    # The rest of the disk is untouched.
    run(h, "lin", "dd if=/dev/vda bs=4096 count=1024 2>/dev/null | md5sum",
        [hashlib.md5(image[:4 << 20]).hexdigest()])
    # MSI-X: the request queue's interrupts come as PCI-MSI, and they counted.
    irqs = run(h, "lin", "grep virtio /proc/interrupts", ["virtio0-config", "virtio0-req.0"])
    m = re.search(r"^\s*\d+:\s+(\d+)\s+(\d+)\s+PCI-MSI \S+\s+virtio0-req\.0$", irqs, re.M)
    assert m and int(m.group(1)) + int(m.group(2)) > 0, irqs
    # A read at the end finds nothing (the block layer stops at the capacity the device gave;
    # requests past it are tests/unit/dev/test_vvirtio_blk.c's) and the disk reads on.
    run(h, "lin", f"dd if=/dev/vda of=/dev/null bs=512 skip={DISK_SECTORS} count=1",
        ["0+0 records in"])
    run(h, "lin", "md5sum /dev/vda >/dev/null && echo whole-disk-$((1+1))", ["whole-disk-2"])
    stats = h.command("vm devices lin").replace("\r", "")
    m = re.search(r"^virtio-blk#0 v1 \(no ports or memory\)\n  pci 00:01\.0 bar0 0xc\w+ status "
                  r"0x0f features 0x\w+ msix on; disk.img sectors 16384 reads (\d+) writes (\d+) "
                  r"flushes (\d+) errors (\d+)$", stats, re.M)
    assert m and int(m.group(1)) > 0 and int(m.group(2)) > 0 and int(m.group(3)) > 0, stats
    assert int(m.group(4)) == 0, stats
    # A local disk cannot migrate (yet): refused with the reason, the VM runs on.
    out = h.command("migrate lin 10.0.2.2")
    assert out.startswith("error: reason=disk local=disk.img"), out
    run(h, "lin", "echo alive-$((6*7))", ["alive-42"])
    log = h.vm_output("lin", 1)
    bad = complaints(log)
    assert not bad, (bad, log)
    assert h.command("vm destroy lin").strip() == "vm lin: ok"
    assert free_pages(h) == before
