#!/usr/bin/env bash
# `make run`: boot build/esp with the serial console on this terminal.
#   EMU=qemu (default): two QEMU hosts on one Ethernet segment with a shared
#     cluster key, ready to live-migrate: host A on this terminal, host B in the
#     background (console on a TCP port). Nested KVM when /dev/kvm can run
#     guests (-cpu host: VT-x or AMD-V, whichever this machine has), else TCG
#     with -cpu max (AMD SVM + NPT in software). Two NUMA nodes, 4 CPUs each.
#     Quit with Ctrl-A X. SINGLE=1: host A alone.
#   EMU=bochs: Bochs with Intel VT-x + EPT (corei7_icelake_u), 2 CPUs. Quit with Ctrl-C.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
emu=${EMU:-qemu}
smp=${SMP:-4}
mem=${MEM:-1024}

kvm_works() {
  grep -qE '\b(vmx|svm)\b' /proc/cpuinfo || return 1
  [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
  # A KVM that cannot create a vCPU fails at once; a working one is still running after 3 s.
  timeout 3 qemu-system-x86_64 -accel kvm -cpu host -M q35 -nodefaults -display none \
    -monitor none -serial none -S >/dev/null 2>&1
  [ $? = 124 ]
}

if [ "$emu" = bochs ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cp "$top/build/ferry.img" "$work/ferry.img"
  cat > "$work/bochsrc" <<EOT
megs: 512
cpu: model=corei7_icelake_u, count=2, ips=200000000
romimage: file=/usr/share/ovmf/OVMF.fd, address=0xffe00000
vgaromimage: file=/usr/share/vgabios/vgabios.bin
display_library: rfb, options="timeout=0"
ata0-master: type=disk, path=$work/ferry.img, mode=flat
boot: disk
com1: enabled=1, mode=socket-server, dev=127.0.0.1:${BOCHS_PORT:-45600}
log: $work/bochs.log
info: action=ignore
panic: action=fatal
error: action=report
pci: enabled=1, chipset=i440fx
speaker: enabled=0
sound: driver=dummy
EOT
  echo "ferry: Bochs (VT-x + EPT) boots in ~25 s; console on this terminal, Ctrl-C quits." >&2
  (echo c; sleep infinity) | bochs -q -f "$work/bochsrc" >"$work/bochs.out" 2>&1 &
  bochs_pid=$!
  trap 'kill $bochs_pid 2>/dev/null; pkill -P $bochs_pid 2>/dev/null; rm -rf "$work"' EXIT
  sleep 2
  /usr/bin/python3 - "${BOCHS_PORT:-45600}" <<'PY'
import os, select, socket, sys, termios, time, tty
port = int(sys.argv[1])
for _ in range(100):
    try:
        s = socket.create_connection(("127.0.0.1", port)); break
    except OSError:
        time.sleep(0.2)
fd = sys.stdin.fileno()
old = termios.tcgetattr(fd) if os.isatty(fd) else None
if old: tty.setraw(fd)
try:
    while True:
        r, _, _ = select.select([s, fd], [], [])
        if s in r:
            d = s.recv(4096)
            if not d: break
            os.write(1, d)
        if fd in r:
            d = os.read(fd, 64)
            if not d or b"\x03" in d: break
            s.sendall(d)
finally:
    if old: termios.tcsetattr(fd, termios.TCSADRAIN, old)
PY
  exit 0
fi

if kvm_works; then
  accel=(-accel kvm -cpu host)
  echo "ferry: QEMU with nested KVM (-cpu host)" >&2
else
  accel=(-accel tcg -cpu max)
  echo "ferry: QEMU TCG -cpu max (AMD SVM + NPT emulated; no usable KVM here)" >&2
fi
half=$((mem / 2)); hcpu=$((smp / 2))
numa=()
if [ "$smp" -ge 2 ]; then
  numa=(-object memory-backend-ram,id=m0,size=${half}M -object memory-backend-ram,id=m1,size=${half}M
        -numa node,nodeid=0,cpus=0-$((hcpu - 1)),memdev=m0
        -numa node,nodeid=1,cpus=$hcpu-$((smp - 1)),memdev=m1 -numa dist,src=0,dst=1,val=20)
fi
work=$(mktemp -d)
# Two hosts on one Ethernet segment (QEMU socket netdev, virtio-net), the same cluster key:
# host A (10.0.0.1) on this terminal, host B (10.0.0.2) in the background with its console
# on a TCP port. SINGLE=1 boots host A alone.
key="cluster_key=ferry-make-run-demo-key"
lport=$(( 20000 + RANDOM % 20000 )); bport=$((lport + 1))
for h in a b; do
  cp -r "$top/build/esp" "$work/esp-$h"
done
# Debian's cloud kernel and the project's busybox initramfs on host A (make all builds both),
# and the Multiboot test kernel.
for f in build/linux/vmlinuz build/linux/initrd.img build/guest/mbtest.elf; do
  if [ -f "$top/$f" ]; then
    mkdir -p "$work/esp-a/images" && cp "$top/$f" "$work/esp-a/images/"
  fi
done
# An 8 MiB scratch disk image for a guest's virtio-blk (disk=disk.img).
if [ -d "$work/esp-a/images" ]; then
  truncate -s 8M "$work/esp-a/images/disk.img"
fi
# Each host's switch "lan" has its NIC as the uplink: guests on it share the segment.
printf 'ip=10.0.0.1/24\n%s\nswitch=lan:eth0\n' "$key" >> "$work/esp-a/ferry.cfg"
printf 'ip=10.0.0.2/24\n%s\nswitch=lan:eth0\n' "$key" >> "$work/esp-b/ferry.cfg"
common=(-M q35 "${accel[@]}" -smp "$smp" -m "$mem" "${numa[@]}"
        -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE.fd
        -display none -nodefaults)
b_pid=
cleanup() {
  [ -n "$b_pid" ] && kill "$b_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
if [ -z "${SINGLE:-}" ]; then
  qemu-system-x86_64 "${common[@]}" -drive format=raw,file=fat:rw:"$work/esp-b" \
    -netdev socket,id=n0,listen=127.0.0.1:$lport \
    -device virtio-net-pci,netdev=n0,mac=52:54:00:00:00:02 \
    -serial tcp:127.0.0.1:$bport,server=on,wait=off >"$work/b.log" 2>&1 &
  b_pid=$!
  sleep 1                       # B listens on the segment's socket before A connects
  cat >&2 <<EOT
ferry: host A (10.0.0.1) on this terminal; host B (10.0.0.2) runs in the background,
       its console: telnet 127.0.0.1 $bport (or: nc 127.0.0.1 $bport). Ctrl-A X quits both.
       Try on A:  vm create m mem=64 cpus=2      (the built-in memtest guest)
                  vm start m
                  migrate m 10.0.0.2             (a progress bar, then "migrate: done ...")
       then on B: vm list / vm console m          (its heartbeats go on there)
       Linux on A: vm create lin mem=128 cpus=2 kernel=vmlinuz initrd=initrd.img args="console=ttyS0" nic=lan
                  vm start lin, vm console lin   (Debian's kernel to a busybox shell in ~10 s,
                                                  both CPUs up, virtio-net on switch lan; Ctrl-] detaches)
                  in it: ip link set eth0 up; ip addr add 10.0.0.11/24 dev eth0; ping 10.0.0.2
                  migrate lin 10.0.0.2           (its address follows it: then on B: vm console lin)
       A disk:    vm create d mem=128 kernel=vmlinuz initrd=initrd.img args="console=ttyS0" disk=disk.img nic=lan
                  (/dev/vda in the guest: virtio-blk on a private copy of disk.img, on this host only)
                  migrate d 10.0.0.2 storage=copy  (shared nothing: the disk moves first, then memory)
       Multiboot: vm create mb cpus=2 kernel=mbtest.elf args="mem=64 cpus=2 mods=0"
                  vm start mb                    (checks its boot, interrupts and APs: code=85)
EOT
  net=(-netdev socket,id=n0,connect=127.0.0.1:$lport -device virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01)
else
  echo "ferry: console on this terminal; Ctrl-A X quits." >&2
  net=()
fi
qemu-system-x86_64 "${common[@]}" -drive format=raw,file=fat:rw:"$work/esp-a" "${net[@]}" \
  -serial mon:stdio
