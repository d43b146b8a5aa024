#!/usr/bin/env python3
"""Builds the Linux test guest's initramfs: a gzip-compressed "newc" cpio archive with Debian's
static busybox, the project's init (tests/guest/initramfs/init) and /dev/console, written in
Python so that no root (mknod) is needed. Usage: mkinitramfs.py OUT [BUSYBOX [MODULES]]: MODULES
is a directory of kernel modules (.ko) with a file "order" naming them in load order, put in
/lib/modules/ for the init to load (tools/fetch-linux.sh makes one). The archive
format: each entry is a 110-byte ASCII header ("070701" and thirteen 8-digit hex fields: ino,
mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize,
check), the NUL-terminated name and the data, each padded to 4 bytes; "TRAILER!!!" ends it."""
import gzip
import os
import sys

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def entry(ino, name, mode, data=b"", rdev=(0, 0), nlink=1):
    name_b = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0]
    hdr = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = hdr + name_b
    out += b"\0" * (-len(out) % 4)
    out += data + b"\0" * (-len(data) % 4)
    return out


def build(busybox, modules=None):
    with open(busybox, "rb") as f:
        bb = f.read()
    if bb[:4] != b"\x7fELF":
        sys.exit(f"mkinitramfs: {busybox} is not an ELF binary")
    with open(os.path.join(TOP, "tests", "guest", "initramfs", "init"), "rb") as f:
        init = f.read()
    items = []
    for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "root"):
        items.append((d, 0o040755, b"", (0, 0), 2))
    items.append(("dev/console", 0o020600, b"", (5, 1), 1))
    items.append(("bin/busybox", 0o100755, bb, (0, 0), 1))
    items.append(("init", 0o100755, init, (0, 0), 1))
    if modules:
        items.append(("lib", 0o040755, b"", (0, 0), 2))
        items.append(("lib/modules", 0o040755, b"", (0, 0), 2))
        with open(os.path.join(modules, "order"), "rb") as f:
            order = f.read()
        items.append(("lib/modules/order", 0o100644, order, (0, 0), 1))
        for name in order.decode().split():
            with open(os.path.join(modules, name + ".ko"), "rb") as f:
                items.append((f"lib/modules/{name}.ko", 0o100644, f.read(), (0, 0), 1))
    blob = b"".join(entry(i + 1, n, m, d, r, l) for i, (n, m, d, r, l) in enumerate(items))
    blob += entry(0, "TRAILER!!!", 0, b"")
    return gzip.compress(blob, mtime=0)


def main():
    if len(sys.argv) not in (2, 3, 4):
        sys.exit("usage: mkinitramfs.py OUT [BUSYBOX [MODULES]]")
    out = sys.argv[1]
    busybox = sys.argv[2] if len(sys.argv) >= 3 else "/bin/busybox"
    data = build(busybox, sys.argv[3] if len(sys.argv) == 4 else None)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + ".tmp", "wb") as f:
        f.write(data)
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
