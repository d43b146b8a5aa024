#!/usr/bin/env python3
"""Writes a bootable USB stick image for ferry: a GPT disk with one EFI system partition
(FAT, label FERRY) that holds

    EFI/BOOT/BOOTX64.EFI   ferry (the removable-media path every UEFI firmware boots)
    ferry.cfg              the host's configuration
    images/                guest images that `vm create ... kernel=FILE` and friends name

    tools/mkusb.py OUT EFI CFG [--images DIR] [--size MIB]

Write OUT to a stick with `dd if=OUT of=/dev/sdX bs=4M conv=fsync`. The partition is made
with dosfstools and filled with mtools (Debian's, no root needed); the GPT around it is
written here (UEFI spec, "GUID Partition Table Disk Layout"). The disk's and partition's GUIDs
and the volume id are derived from OUT's name, so the same inputs give the same image.
"""
import argparse
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import uuid
import zlib

SECTOR = 512
ENTRIES, ENTRY_SIZE = 128, 128
ENTRY_SECTORS = ENTRIES * ENTRY_SIZE // SECTOR          # 32
FIRST = 2048                                            # the partition starts at 1 MiB
ESP_TYPE = uuid.UUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")


def guid(seed, what):
    return uuid.UUID(bytes=hashlib.sha256(f"{seed}/{what}".encode()).digest()[:16], version=4)


def header(disk, my, alt, entries_lba, last_usable, entries_crc):
    h = struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x00010000, 92, 0, 0, my, alt, 34,
                    last_usable, disk.bytes_le, entries_lba, ENTRIES, ENTRY_SIZE, entries_crc)
    h = h[:16] + struct.pack("<I", zlib.crc32(h)) + h[20:]
    return h + bytes(SECTOR - len(h))


def protective_mbr(sectors):
    mbr = bytearray(SECTOR)
    # one partition of type 0xEE over the whole disk (or as much as 32 bits can say)
    mbr[446:462] = struct.pack("<B3sB3sII", 0, b"\x00\x02\x00", 0xEE, b"\xff\xff\xff", 1,
                               min(sectors - 1, 0xFFFFFFFF))
    mbr[510:512] = b"\x55\xaa"
    return bytes(mbr)


def fat_partition(path, sectors, volid, efi, cfg, images):
    """A FAT file system of sectors sectors at path, filled."""
    # -h: the sectors before the partition, which the boot sector records
    subprocess.run(["mkfs.fat", "-C", "-n", "FERRY", "-i", volid, "-h", str(FIRST), path,
                    str(sectors // 2)],
                   check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, PATH=os.environ.get("PATH", "") + ":/sbin:/usr/sbin"))
    with tempfile.TemporaryDirectory() as stage:
        os.makedirs(os.path.join(stage, "EFI", "BOOT"))
        shutil.copyfile(efi, os.path.join(stage, "EFI", "BOOT", "BOOTX64.EFI"))
        shutil.copyfile(cfg, os.path.join(stage, "ferry.cfg"))
        os.makedirs(os.path.join(stage, "images"))
        for name in sorted(os.listdir(images)) if images else ():
            src = os.path.join(images, name)
            if os.path.isfile(src):
                shutil.copyfile(src, os.path.join(stage, "images", name))
        subprocess.run(["mcopy", "-s", "-D", "o", "-i", path] +     # -D o: never ask
                       [os.path.join(stage, n) for n in ("EFI", "ferry.cfg", "images")] +
                       ["::/"], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("efi")
    ap.add_argument("cfg")
    ap.add_argument("--images", help="a directory whose files go to images/")
    ap.add_argument("--size", type=int, default=64, help="disk size in MiB (default 64)")
    a = ap.parse_args()
    need = os.path.getsize(a.efi) + os.path.getsize(a.cfg) + (sum(
        os.path.getsize(os.path.join(a.images, n)) for n in os.listdir(a.images)
        if os.path.isfile(os.path.join(a.images, n))) if a.images else 0)
    sectors = a.size * 1024 * 1024 // SECTOR
    last = sectors - 1
    last_usable = last - ENTRY_SECTORS - 1
    part_last = (last_usable + 1) // 2048 * 2048 - 1       # whole MiBs
    part_sectors = part_last - FIRST + 1
    if part_sectors <= 0 or need > part_sectors * SECTOR * 0.9:
        sys.exit(f"mkusb: {need} bytes do not fit a {a.size} MiB disk; give --size")
    seed = os.path.basename(a.out)
    disk, part = guid(seed, "disk"), guid(seed, "esp")
    volid = hashlib.sha256(seed.encode()).hexdigest()[:8]

    name = "EFI system partition".encode("utf-16-le")
    entries = bytearray(ENTRIES * ENTRY_SIZE)
    entries[:ENTRY_SIZE] = struct.pack("<16s16sQQQ72s", ESP_TYPE.bytes_le, part.bytes_le, FIRST,
                                       part_last, 0, name)
    ecrc = zlib.crc32(entries)

    tmp = a.out + ".tmp"
    part_img = a.out + ".part"
    try:
        fat_partition(part_img, part_sectors, volid, a.efi, a.cfg, a.images)
        with open(tmp, "wb") as f:
            f.truncate(sectors * SECTOR)
            f.write(protective_mbr(sectors))
            f.write(header(disk, 1, last, 2, last_usable, ecrc))
            f.write(entries)
            f.seek(FIRST * SECTOR)
            with open(part_img, "rb") as p:
                shutil.copyfileobj(p, f)
            f.seek((last - ENTRY_SECTORS) * SECTOR)
            f.write(entries)
            f.write(header(disk, last, 1, last - ENTRY_SECTORS, last_usable, ecrc))
        os.replace(tmp, a.out)
    finally:
        for p in (tmp, part_img):
            if os.path.exists(p):
                os.unlink(p)


if __name__ == "__main__":
    main()
