#!/usr/bin/env bash
# Fetches the guest kernel the Linux tests boot: Debian's linux-image-cloud-amd64 (the exact
# image package its metapackage names now), unpacked into build/linux/ (git-ignored, never
# committed): vmlinuz and the package name it came from. Idempotent; quiet once done.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/build/linux"
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
      awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$pkg" ]; then
  echo "fetch-linux: apt knows no linux-image-cloud-amd64 (run tools/deps.sh first)" >&2
  exit 1
fi
if [ -f "$out/vmlinuz" ] && [ "$(cat "$out/package" 2>/dev/null)" = "$pkg" ]; then
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
echo "$pkg" > "$out/package"
