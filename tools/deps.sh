#!/usr/bin/env bash
# Installs what ferry needs to build and test, from Debian only; unpacks
# third-party source under build/third_party. Idempotent and quiet once done.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tp="$top/build/third_party"
stamp="$tp/.deps-v4"
[ "$stamp" -nt "$0" ] && exit 0

pkgs=(build-essential gnu-efi qemu-system-x86 qemu-utils ovmf ipxe-qemu bochs bochsbios vgabios
      bximage mtools dosfstools newlib-source libcmocka-dev python3-pytest python3-pexpect
      dpkg-dev xz-utils binutils iproute2 busybox-static clang libclang-rt-14-dev acpica-tools
      nbd-server dnsmasq-base)
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# deb-src: derive from the enabled apt sources, never naming a host ourselves.
src_list=/etc/apt/sources.list.d/ferry-deb-src.sources
need_update=0
if [ ! -f "$src_list" ] && ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  tmp=$(mktemp)
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # Copy each deb822 stanza of type deb (main Debian archive only) as deb-src.
    awk 'BEGIN{RS=""; ORS="\n\n"} /(^|\n)Types:[ \t]*deb([ \t]|\n|$)/ && /debian/ {
           sub(/Types:[ \t]*deb/, "Types: deb-src"); print }' "$f" >> "$tmp"
  done
  if [ -f /etc/apt/sources.list ]; then
    grep -E '^deb [^ ]*debian' /etc/apt/sources.list | sed 's/^deb /deb-src /' > "$tmp.list" || true
    [ -s "$tmp.list" ] && $SUDO cp "$tmp.list" /etc/apt/sources.list.d/ferry-deb-src.list
    rm -f "$tmp.list"
  fi
  [ -s "$tmp" ] && $SUDO cp "$tmp" "$src_list"
  rm -f "$tmp"
  need_update=1
fi

if [ ${#missing[@]} -gt 0 ] || [ $need_update = 1 ] || [ ! -d /var/lib/apt/lists ] || \
   ! ls /var/lib/apt/lists/*Sources* >/dev/null 2>&1; then
  echo "deps: apt-get update" >&2
  $SUDO apt-get update -q >/dev/null
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$tp"
cd "$tp"
fetch_src() {  # $1 = source package, $2 = directory name to expose
  [ -d "$2" ] && return 0
  rm -rf "src-$1"; mkdir "src-$1"
  (cd "src-$1" && apt-get source -q --download-only "$1" >/dev/null 2>&1 &&
     dpkg-source -x --skip-patches ./*.dsc out >/dev/null 2>&1 ||
     dpkg-source -x ./*.dsc out >/dev/null)
  mv "src-$1/out" "$2"; rm -rf "src-$1"
}
fetch_src lwip lwip
fetch_src mbedtls mbedtls
fetch_src lz4 lz4
# The management API's HTTP/1.1 request parser (nodejs http-parser 2.9.4). Debian's patches
# are its security fixes (CVE-2020-8287), so they are applied.
if [ ! -d http-parser ]; then
  rm -rf src-http-parser; mkdir src-http-parser
  (cd src-http-parser && apt-get source -q --download-only http-parser >/dev/null 2>&1 &&
     dpkg-source -x ./*.dsc out >/dev/null 2>&1)
  mv src-http-parser/out http-parser; rm -rf src-http-parser
fi
if [ ! -d newlib ]; then
  tar -xf /usr/src/newlib/newlib-*.tar.xz
  mv newlib-* newlib
fi
touch "$stamp"
