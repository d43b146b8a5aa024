#!/usr/bin/env bash
# Fetches the guest kernel the Linux tests boot: Debian's linux-image-cloud-amd64 (the exact
# image package its metapackage names now), unpacked into build/linux/ (git-ignored, never
# committed): vmlinuz, the modules the test guest loads (virtio PCI, block and net, in
# build/linux/modules/, in load order in its file "order") and the package name it came from.
# Idempotent; quiet once done.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/build/linux"
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
      awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$pkg" ]; then
  echo "fetch-linux: apt knows no linux-image-cloud-amd64 (run tools/deps.sh first)" >&2
  exit 1
fi
# Load order: each after what it depends on (the modules' own depends= lines).
modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk
failover net_failover virtio_net"
if [ -f "$out/vmlinuz" ] && [ "$(cat "$out/package" 2>/dev/null)" = "$pkg" ] &&
   [ -f "$out/modules/order" ]; then
  exit 0
fi
echo "fetch-linux: $pkg"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>&1) || {
  echo "fetch-linux: apt-get download $pkg failed" >&2; exit 1; }
dpkg-deb -x "$tmp"/*.deb "$tmp/x"
mkdir -p "$out"
cp "$tmp"/x/boot/vmlinuz-* "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
rm -rf "$out/modules"
mkdir -p "$out/modules"
for m in $modules; do
  f=$(find "$tmp/x/lib/modules" -name "$m.ko" | head -1)
  if [ -z "$f" ]; then
    echo "fetch-linux: $pkg has no module $m.ko" >&2; exit 1
  fi
  cp "$f" "$out/modules/"
  echo "$m" >> "$out/modules/order.tmp"
done
mv "$out/modules/order.tmp" "$out/modules/order"
echo "$pkg" > "$out/package"
