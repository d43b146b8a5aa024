#!/usr/bin/env bash
# Builds newlib's libc (no libm) with the core's flags into build/newlib/.
# Files that return floating-point values cannot compile under
# -mgeneral-regs-only; make -k skips them and the archive is assembled from
# every object that did build. The core never formats floats.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
src="$top/build/third_party/newlib"
bld="$top/build/newlib-build"
out="$top/build/newlib"
flags="$1"
[ -f "$out/libc.a" ] && exit 0
rm -rf "$bld" "$out"; mkdir -p "$bld" "$out"
cd "$bld"
"$src/configure" --target=x86_64-elf --prefix="$out/install" --disable-multilib \
  --disable-newlib-supplied-syscalls --disable-newlib-io-float --disable-newlib-multithread \
  --enable-newlib-nano-malloc --disable-nls \
  CC_FOR_TARGET=gcc AR_FOR_TARGET=ar AS_FOR_TARGET=as RANLIB_FOR_TARGET=ranlib \
  LD_FOR_TARGET=ld NM_FOR_TARGET=nm OBJDUMP_FOR_TARGET=objdump \
  CFLAGS_FOR_TARGET="$flags" > configure.log 2>&1
make configure-target-newlib > build.log 2>&1
# stmp-targ-include produces the generated headers (newlib.h, targ-include/).
make -C x86_64-elf/newlib stmp-targ-include newlib.h >> build.log 2>&1 || true
make -k -j"$(nproc)" -C x86_64-elf/newlib/libc >> build.log 2>&1 || true
objs=$(find x86_64-elf/newlib/libc -name 'lib_a-*.o' | sort)
[ -n "$objs" ] || { echo "newlib: nothing built, see $bld/build.log" >&2; exit 1; }
ar rcs "$out/libc.a.tmp" $objs
mkdir -p "$out/include"
cp -r "$src/newlib/libc/include/." "$out/include/"
cp -r x86_64-elf/newlib/targ-include/. "$out/include/"
mv "$out/libc.a.tmp" "$out/libc.a"
echo "newlib: $(echo "$objs" | wc -l) objects in build/newlib/libc.a" >&2
