#!/usr/bin/env bash
# Fails if the core ELF contains any x87, MMX, SSE or AVX instruction: host
# code must never touch FPU/SIMD state, the guests' lives in those registers.
set -euo pipefail
elf=${1:?usage: check-nosse.sh CORE_ELF}
# One instruction per line: "address<TAB>mnemonic operands". FXSAVE64/FXRSTOR64 move a
# guest's state on CPUs without XSAVE, like XSAVE does elsewhere: allowed in fpu_put and
# fpu_load only (arch/x86_64/fpu.c), nowhere else.
insns=$(objdump -d --no-show-raw-insn "$elf" |
        awk '/^[0-9a-f]+ <[^>]+>:$/ { fn = $2; next }
             /^\s*[0-9a-f]+:\t/ { if ((fn == "<fpu_put>:" || fn == "<fpu_load>:") &&
                                      $0 ~ /\t(fxsave64|fxrstor64) /) next; print }' || true)
total=$(wc -l <<<"$insns")
[ "$total" -gt 1000 ] || { echo "check-nosse: disassembly of $elf looks empty" >&2; exit 1; }
# FPU/SIMD register operands, x87 mnemonics (all start with f; no integer one
# does), and SIMD-state instructions without register operands.
bad=$(awk -F'\t' '{print $1 "\t" $2}' <<<"$insns" |
      grep -E $'\t''(f[a-z0-9]*|emms|femms|ldmxcsr|stmxcsr|vldmxcsr|vstmxcsr|vzeroupper|vzeroall|fxsave[0-9]*|fxrstor[0-9]*)(\s|$)|%(x|y|z)mm[0-9]|%st\b|%mm[0-7]' || true)
if [ -n "$bad" ]; then
  echo "check-nosse: FPU/SIMD instructions in $elf:" >&2
  head -20 <<<"$bad" >&2
  exit 1
fi
echo "check-nosse: $total instructions in $elf, none x87/MMX/SSE/AVX"
