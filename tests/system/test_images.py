"""The images operators boot ferry from, booted the way a server would (QEMU TCG, OVMF):

- `make usb`'s GPT disk (tools/mkusb.py) as a USB stick (`usb-storage` on `qemu-xhci`): the
  host takes ferry.cfg from the stick, and a guest kernel from its images/ runs (mbtest, whose
  own checks must pass);
- `make pxe`'s TFTP tree (tools/mkpxe.py) through QEMU user networking's DHCP and TFTP: the
  host takes its own ferry-<MAC>.cfg over the shared one, fetches the images images.list names
  (and skips a name that tries to leave images/), and the guest runs.

The GPT that `make usb` wrote is checked here too, field by field (UEFI spec 2.10, 5.3)."""
import os
import re
import struct
import subprocess
import uuid
import zlib

from ferryhost import BUILD, TOP, QemuHost
from test_multiboot import images, run_mbtest

ESP_TYPE = uuid.UUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
MAC = "52:54:00:12:34:56"


def write_images(d):
    os.makedirs(d, exist_ok=True)
    for name, data in images().items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    return d


def write_cfg(path, hostname):
    with open(path, "w") as f:
        f.write(f"# written by test_images.py\nhostname={hostname}\nlog_level=info\n")
    return path


def hostname(h):
    m = re.search(r"hostname: (\S+)", h.command("host"))
    assert m, "no hostname in `host`"
    return m.group(1)


def gpt_header(img, lba):
    img.seek(lba * 512)
    h = img.read(512)
    (sig, rev, size, crc, _, my, alt, first, last, disk, entries, n, esize,
     ecrc) = struct.unpack_from("<8sIIIIQQQQ16sQIII", h)
    assert sig == b"EFI PART" and rev == 0x00010000 and size == 92
    assert zlib.crc32(h[:16] + b"\0\0\0\0" + h[20:92]) == crc, "header CRC"
    assert my == lba
    return dict(alt=alt, first=first, last=last, disk=disk, entries=entries, n=n,
                esize=esize, ecrc=ecrc)


def test_make_usb_writes_a_valid_gpt_disk():
    path = os.path.join(BUILD, "ferry-usb.img")
    sectors = os.path.getsize(path) // 512
    with open(path, "rb") as img:
        mbr = img.read(512)
        assert mbr[510:] == b"\x55\xaa" and mbr[446 + 4] == 0xEE     # protective MBR
        p = gpt_header(img, 1)
        b = gpt_header(img, sectors - 1)
        assert p["alt"] == sectors - 1 and b["alt"] == 1
        assert p["disk"] == b["disk"] and p["ecrc"] == b["ecrc"]
        assert p["first"] == 34 and p["last"] == sectors - 34
        for h in (p, b):
            img.seek(h["entries"] * 512)
            ents = img.read(h["n"] * h["esize"])
            assert zlib.crc32(ents) == h["ecrc"], "entry array CRC"
        typ, _, start, end = struct.unpack_from("<16s16sQQ", ents)
        assert uuid.UUID(bytes_le=typ) == ESP_TYPE
        assert p["first"] <= start <= end <= p["last"] and start % 2048 == 0
        assert not any(ents[128:]), "one partition"
    # Its FAT holds what a stick must (mtools reads the partition at its offset).
    out = subprocess.run(["mdir", "-/", "-b", "-i", f"{path}@@{start * 512}", "::/"],
                         capture_output=True, text=True, check=True).stdout
    for want in ("::/EFI/BOOT/BOOTX64.EFI", "::/ferry.cfg", "::/images/"):
        assert want in out, out


def test_make_pxe_writes_a_tree_and_dhcp_examples():
    tree = os.path.join(BUILD, "pxe")
    for f in ("ferry/BOOTX64.EFI", "ferry/ferry.cfg", "ferry/images.list", "ferry/images"):
        assert os.path.exists(os.path.join(tree, f)), f
    # dnsmasq itself checks its example (an option it does not know fails the check).
    r = subprocess.run(["dnsmasq", "--test", "-C", os.path.join(tree, "dnsmasq.conf.example")],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0 and "syntax check OK" in r.stderr, r.stderr
    with open(os.path.join(tree, "dhcpd.conf.example")) as f:
        dhcpd = f.read()
    assert 'filename "ferry/BOOTX64.EFI"' in dhcpd and "next-server" in dhcpd


def test_usb_stick_boots_with_its_config_and_images(workdir, hosts):
    img = os.path.join(workdir, "stick.img")
    subprocess.run([os.path.join(TOP, "tools", "mkusb.py"), img,
                    os.path.join(BUILD, "ferry.efi"),
                    write_cfg(os.path.join(workdir, "usb.cfg"), "usb-stick"),
                    "--images", write_images(os.path.join(workdir, "images"))], check=True)
    h = QemuHost(workdir, smp=2, mem_mb=256, boot=[
        "-device", "qemu-xhci", "-drive", f"if=none,id=stick,format=raw,file={img}",
        "-device", "usb-storage,drive=stick"])
    hosts.append(h)
    h.start().wait_prompt()
    assert hostname(h) == "usb-stick"
    run_mbtest(h, cpus=2)


def pxe_tree(workdir):
    """The TFTP tree: a shared and this host's own ferry.cfg, the images, and images.list
    lines that must be skipped: a name leaving images/, a missing file, a wrong size."""
    tree = os.path.join(workdir, "tftp")
    subprocess.run([os.path.join(TOP, "tools", "mkpxe.py"), tree,
                    os.path.join(BUILD, "ferry.efi"),
                    write_cfg(os.path.join(workdir, "shared.cfg"), "pxe-shared"),
                    "--images", write_images(os.path.join(workdir, "images"))], check=True)
    write_cfg(os.path.join(tree, "ferry", "ferry-" + MAC.replace(":", "-") + ".cfg"), "pxe-own")
    with open(os.path.join(tree, "ferry", "images", "extra.bin"), "wb") as f:
        f.write(b"x" * 100)
    with open(os.path.join(tree, "ferry", "images.list"), "a") as f:
        f.write("../ferry-" + MAC.replace(":", "-") + ".cfg 10\n  # a comment\n"
                "missing.elf 5\nextra.bin 99\n")
    return tree


def pxe_host(workdir, tree, nic):
    return QemuHost(workdir, smp=2, mem_mb=256, boot=[
        "-netdev", f"user,id=n0,tftp={tree},bootfile=ferry/BOOTX64.EFI",
        "-device", f"{nic},netdev=n0,mac={MAC},bootindex=0"])


def boot_pxe(workdir, hosts, tree, nic, hostname_want, log_wants):
    """Boots the tree over nic; the host's name and its log are as wanted, and mbtest, fetched
    as an image, passes."""
    h = pxe_host(workdir, tree, nic)
    hosts.append(h)
    h.start().wait_prompt()
    assert hostname(h) == hostname_want
    log = h.command("log")
    for want in log_wants:
        assert want in log, (want, log)
    run_mbtest(h, cpus=2)


def test_pxe_boot_fetches_its_config_and_images(workdir, hosts):
    """Through iPXE (QEMU's e1000 option ROM), whose TFTP does not say file sizes."""
    boot_pxe(workdir, hosts, pxe_tree(workdir), "e1000", "pxe-own", [
        "configuration over TFTP: ferry-52-54-00-12-34-56.cfg",
        "an images.list line is not NAME [SIZE]",
        "images/missing.elf is not on the TFTP server"])


def test_pxe_boot_through_the_firmwares_own_pxe(workdir, hosts):
    """Through OVMF's own PXE (virtio-net without an option ROM), whose TFTP says file sizes:
    the shared configuration when the host has none of its own, and a size that differs
    from images.list's is refused."""
    tree = pxe_tree(workdir)
    os.unlink(os.path.join(tree, "ferry", "ferry-" + MAC.replace(":", "-") + ".cfg"))
    boot_pxe(workdir, hosts, tree, "virtio-net-pci,romfile=", "pxe-shared", [
        "configuration over TFTP: ferry.cfg",
        "images/extra.bin has another size than images.list says"])
