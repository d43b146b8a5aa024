#!/usr/bin/env python3
"""Writes a TFTP tree that network-boots ferry, and example DHCP server configurations:

    OUT/ferry/BOOTX64.EFI       ferry; DHCP names it as the boot file ("ferry/BOOTX64.EFI")
    OUT/ferry/ferry.cfg         every host's configuration; a host's own, if there, wins:
    OUT/ferry/ferry-52-54-00-12-34-56.cfg   (its booting NIC's MAC, lower case, dashes)
    OUT/ferry/images.list       guest images to fetch at boot: NAME SIZE a line
    OUT/ferry/images/           ... and the images themselves
    OUT/dnsmasq.conf.example    DHCP + TFTP in one (dnsmasq)
    OUT/dhcpd.conf.example      ISC dhcpd, with any TFTP server (e.g. tftpd-hpa) on OUT

    tools/mkpxe.py OUT EFI CFG [--images DIR]

OUT/ferry is replaced; anything else in OUT (a TFTP root other boot files share) is left.

ferry's loader fetches the configuration and images through the firmware's PXE base code
from the server and directory it was booted from (boot/efi_pxe.c).
"""
import argparse
import os
import re
import shutil
import sys

NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,46}")    # boot/efi_pxe.c's rule
IMAGES_MAX = 16                                           # BOOT_MAX_MODULES

DNSMASQ = """\
# dnsmasq: DHCP and TFTP for ferry hosts on 10.9.0.0/24 (this server is 10.9.0.1).
# Copy the tree beside this file to /srv/tftp, then: dnsmasq -C dnsmasq.conf
port=0
interface=eth1
dhcp-range=10.9.0.100,10.9.0.200,255.255.255.0,12h
# UEFI x86-64 clients (client architecture 7 or 9) boot ferry.
dhcp-match=set:efi64,option:client-arch,7
dhcp-match=set:efi64,option:client-arch,9
dhcp-boot=tag:efi64,ferry/BOOTX64.EFI
enable-tftp
tftp-root=/srv/tftp
"""

DHCPD = """\
# ISC dhcpd: ferry hosts on 10.9.0.0/24; the TFTP server (10.9.0.1) serves the tree beside
# this file from its root (tftpd-hpa: TFTP_DIRECTORY="/srv/tftp").
option client-arch code 93 = unsigned integer 16;
subnet 10.9.0.0 netmask 255.255.255.0 {
  range 10.9.0.100 10.9.0.200;
  next-server 10.9.0.1;
  if option client-arch = 7 or option client-arch = 9 {
    filename "ferry/BOOTX64.EFI";
  }
}
# A host of its own: ferry then reads ferry/ferry-52-54-00-12-34-56.cfg if it exists.
# host rack1-a { hardware ethernet 52:54:00:12:34:56; fixed-address 10.9.0.11; }
"""

LIST = """\
# Guest images ferry fetches at boot from images/: NAME SIZE a line, at most 16. NAME is
# [A-Za-z0-9._-], not starting with '.'; SIZE is the file's size in bytes (iPXE's TFTP cannot
# tell it; edk2's can, and a SIZE that differs is refused). `vm create ... kernel=NAME` then
# finds them.
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("efi")
    ap.add_argument("cfg")
    ap.add_argument("--images", help="a directory whose files go to images/ and images.list")
    a = ap.parse_args()
    d = os.path.join(a.out, "ferry")
    names = sorted(n for n in os.listdir(a.images)
                   if os.path.isfile(os.path.join(a.images, n))) if a.images else []
    bad = [n for n in names if not NAME.fullmatch(n)]
    if bad or len(names) > IMAGES_MAX:
        sys.exit(f"mkpxe: the loader takes at most {IMAGES_MAX} images named 1-47 of "
                 f"[A-Za-z0-9._-], not starting with '.': {bad or len(names)}")
    shutil.rmtree(d, ignore_errors=True)        # ours only: OUT may be a TFTP root others share
    os.makedirs(os.path.join(d, "images"))
    shutil.copyfile(a.efi, os.path.join(d, "BOOTX64.EFI"))
    shutil.copyfile(a.cfg, os.path.join(d, "ferry.cfg"))
    for n in names:
        shutil.copyfile(os.path.join(a.images, n), os.path.join(d, "images", n))
    with open(os.path.join(d, "images.list"), "w") as f:
        f.write(LIST + "".join(f"{n} {os.path.getsize(os.path.join(d, 'images', n))}\n"
                               for n in names))
    with open(os.path.join(a.out, "dnsmasq.conf.example"), "w") as f:
        f.write(DNSMASQ)
    with open(os.path.join(a.out, "dhcpd.conf.example"), "w") as f:
        f.write(DHCPD)


if __name__ == "__main__":
    main()
