"""Guests under both backends, through the same commands and the same test guest:
- VT-x with EPT in Bochs (corei7_icelake_u, 2 CPUs: the BSP is the control plane, the AP runs
  every vCPU, time-sliced by the VMX preemption timer);
- AMD-V with NPT in QEMU TCG (-cpu max -smp 4: no NRIPS, no decode assists, so instruction
  lengths come from ferry's own decoding; time slices from the local APIC timer);
- AMD-V in Bochs' ryzen model, which offers NRIPS (the next-RIP path).
"""
import os
import re
import time

import pytest

from ferryhost import BUILD, BochsHost, QemuHost


def free_pages(h):
    return [int(m) for m in re.findall(r"free \d+ MiB \((\d+) pages\)", h.command("mem"))]


def assert_refused(h, refusals, before):
    """Each command is refused with its reason (a substring of the reply), no VM 'x' remains
    and no memory is lost (free pages as `before`)."""
    for cmd, want in refusals.items():
        out = h.command(cmd)
        assert want in out, (cmd, out)
    assert vm_row(h, "x") is None
    assert free_pages(h) == before


def vm_row(h, name):
    for line in h.command("vm list").splitlines():
        f = line.split()
        if f and f[0] == name:
            return f
    return None


def last_seq(beats, vcpu):  # noqa: D103
    return max([b["seq"] for b in beats if b["vcpu"] == vcpu], default=0)


def check_beats(beats, vcpu, at_least):
    mine = [b for b in beats if b["vcpu"] == vcpu]
    assert len(mine) >= at_least or (mine and mine[-1]["seq"] >= at_least), beats
    # Consecutive from 1, or from wherever the 64 KiB UART ring starts after it wrapped.
    first = mine[0]["seq"]
    assert [b["seq"] for b in mine] == list(range(first, first + len(mine))), mine
    assert all(b["check"] == "ok" for b in mine), mine
    tscs = [b["tsc"] for b in mine]
    assert tscs == sorted(tscs), tscs


HOSTS = {
    "bochs-vmx": lambda d: BochsHost(d, cpus=2, megs=512),
    "qemu-svm": lambda d: QemuHost(d, smp=4, mem_mb=512),
}


@pytest.fixture(params=sorted(HOSTS))
def guest_host(request, workdir, hosts):
    h = HOSTS[request.param](workdir)
    hosts.append(h)
    h.start().wait_prompt()
    return h


def test_memtest_lifecycle(guest_host):
    h = guest_host
    before = free_pages(h)
    assert h.command('vm create beat mem=8 cpus=2 args="hb=8 pages=8"').strip() == "vm beat: ok"
    row = vm_row(h, "beat")
    assert row[1:5] == ["created", "8", "2", "0"], row
    # The machine every VM gets (hv/dev/machine.c), in creation order, with its ranges.
    assert h.command("vm devices beat").strip().splitlines() == [
        "pic8259#0 v1 io 0x20-0x21, io 0xa0-0xa1, io 0x4d0-0x4d1",
        "lapic#0 v2 mmio 0xfee00000-0xfee00fff, msr 0x800-0x8ff",
        "uart16550#0 v1 io 0x3f8-0x3ff", "debug-exit#0 v1 io 0xf4-0xf4",
        "pci-host#0 v1 io 0xcf8-0xcff, mmio 0xc0000000-0xdfffffff, mmio 0xe0000000-0xe00fffff",
        "pit8254#0 v2 io 0x40-0x43, io 0x61-0x61",
        "rtc-cmos#0 v1 io 0x70-0x71", "kvmclock#0 v1 (no ports or memory)",
        "i8042#0 v1 io 0x60-0x60, io 0x64-0x64", "ioapic#0 v1 mmio 0xfec00000-0xfec000ff",
        "acpi-pm#0 v1 io 0x600-0x60b"]
    assert h.command("vm start beat").strip() == "vm beat: ok"

    # The banner first: the 64 KiB output ring wraps within seconds at this heartbeat rate.
    deadline = time.time() + 60
    while not re.search(r"MEMTEST vcpu=0 .* ready\n", out := h.vm_output("beat", 0)):
        assert time.time() < deadline, out
        time.sleep(0.5)
    assert "MEMTEST start vcpus=2 mem=8388608" in out
    beats = h.wait_heartbeats("beat", 0, 5)
    check_beats(beats, 0, 5)
    h.wait_heartbeats("beat", 1, 1)
    # The CPU policy hides VMX (leaf 1 ECX bit 5) and sets the hypervisor bit (31).
    ecx = int(re.search(r"CPUID leaf=0x1 eax=\w+ ebx=\w+ ecx=(\w+)", out).group(1), 16)
    assert not ecx & (1 << 5) and ecx & (1 << 31)

    # A guest that triple-faults is stopped with a VMCS dump; the other VM keeps beating.
    assert h.command('vm create bad mem=4 args="mode=triple"').strip() == "vm bad: ok"
    seq_before = last_seq(h.heartbeats("beat", 0), 0)
    h.command("vm start bad")
    deadline = time.time() + 60
    while vm_row(h, "bad")[1] != "stopped":
        assert time.time() < deadline, "bad VM was not stopped"
        time.sleep(1)
    stats = h.command("vm stats bad")
    assert "stopped: triple fault on vcpu 0" in stats, stats
    assert re.search(r"exits shutdown 1", stats), stats
    log = h.command("log")
    assert re.search(r"(vmx: vm bad vcpu 0: exit reason 2 |svm: vm bad vcpu 0: exit code 0x7f )",
                     log), log
    assert re.search(r"vcpu:   cr0 [0-9a-f]+ cr2", log), log
    beats = h.wait_heartbeats("beat", 0, seq_before + 2)
    check_beats(beats, 0, seq_before + 2)
    assert vm_row(h, "beat")[1] == "running"

    # Pause stops the heartbeats; resume restarts them.
    assert h.command("vm pause beat").strip() == "vm beat: ok"
    assert vm_row(h, "beat")[1] == "paused"
    paused_at = last_seq(h.heartbeats("beat", 0), 0)
    time.sleep(5)
    assert last_seq(h.heartbeats("beat", 3), 0) == paused_at
    assert h.command("vm resume beat").strip() == "vm beat: ok"
    beats = h.wait_heartbeats("beat", 0, paused_at + 2)
    check_beats(beats, 0, paused_at + 2)

    # (dirty logging: test_dirty_logging_modes)
    stats = h.command("vm stats beat")
    assert re.search(r"^exits cpuid 6$", stats, re.M), stats
    assert re.search(r"^exits io \d+$", stats, re.M), stats
    # VT-x ends slices with the preemption timer, SVM with the APIC timer (an external interrupt)
    assert re.search(r"^exits (timeslice|extint) \d+$", stats, re.M), stats

    # VMCALL (VT-x) / VMMCALL (AMD-V): an unknown hypercall answers -KVM_ENOSYS (-1000) in RAX,
    # never #UD and never a stopped VM.
    # (With tpr=1 the same guest first checks that CR8 is the local APIC's TPR both ways: VT-x
    # exits on CR8, SVM keeps it in V_TPR, pulled after every exit and pushed before entries.)
    assert h.command('vm create hc mem=4 args="mode=idle hypercall=42 tpr=1"').strip() \
        == "vm hc: ok"
    h.command("vm start hc")
    deadline = time.time() + 120
    while not re.search(r"HYPERCALL nr=42 rax=\S+\n", out := h.vm_output("hc", 0)):
        assert time.time() < deadline, out
        time.sleep(1)
    assert "HYPERCALL nr=42 rax=0xfffffffffffffc18" in out, out
    assert "TPR cr8=2 tpr=0x20 tpr=0x30 cr8=3 cr8=0 tpr=0x0\n" in out, out
    assert exits(h, "hc", "hypercall") == 1
    assert vm_row(h, "hc")[1] == "running"
    assert h.command("vm destroy hc").strip() == "vm hc: ok"

    # The PIT against the TSC, the way Linux calibrates (channel 2, mode 0, gate on port 0x61):
    # over 6M TSC cycles the guest counts the ticks the host's TSC rate says it should.
    assert h.command('vm create pit mem=4 args="mode=idle pit=1"').strip() == "vm pit: ok"
    h.command("vm start pit")
    deadline = time.time() + 120
    # (the whole line: the console may hand over part of it first)
    while not re.search(r"PIT ticks=\d+ tsc=\d+ out2=\d+\n", out := h.vm_output("pit", 0)):
        assert time.time() < deadline, out
        time.sleep(1)
    m = re.search(r"PIT ticks=(\d+) tsc=(\d+) out2=0\n", out)
    assert m, out
    khz = int(re.search(r"^tsc: (\d+) kHz", h.command("host"), re.M).group(1))
    ticks, want = int(m.group(1)), int(m.group(2)) * 1193.182 / khz
    print(f"\nPIT ticks={ticks} expected={want:.0f} ({100 * (ticks - want) / want:+.2f}%)")
    assert abs(ticks - want) <= 0.1 * want, (ticks, want, out)
    assert h.command("vm destroy pit").strip() == "vm pit: ok"

    # The debug-exit port (0xF4): the guest ends itself with a code; the console says so and
    # `vm stats` keeps it.
    assert h.command('vm create ex mem=4 args="exit=3"').strip() == "vm ex: ok"
    h.command("vm start ex")
    h.expect(r"vm: ex exited code=3\r?\n", timeout=120)
    h.wait_prompt()
    assert vm_row(h, "ex")[1] == "stopped"
    assert "stopped: guest exited code=3" in h.command("vm stats ex")
    assert h.command("vm destroy ex").strip() == "vm ex: ok"

    # Destroying both gives every frame back.
    assert h.command("vm destroy bad").strip() == "vm bad: ok"
    assert h.command("vm destroy beat").strip() == "vm beat: ok"
    assert vm_row(h, "beat") is None and vm_row(h, "bad") is None
    assert free_pages(h) == before


def exits(h, vm, reason):
    m = re.search(rf"^exits {reason} (\d+)$", h.command(f"vm stats {vm}"), re.M)
    return int(m.group(1)) if m else 0


def dirty_verify(h, vm):
    """The console's oracle: with the VM paused, every page whose contents changed since the
    last check must have been reported dirty (missed=0); extra dirty pages are allowed."""
    out = h.command(f"vm dirty {vm} verify", timeout=120)
    m = re.search(rf"^dirty: vm={vm} pages=2048 changed=(\d+) dirty=(\d+) missed=(\d+)$",
                  out, re.M)
    assert m, out
    changed, dirty, missed = map(int, m.groups())
    assert missed == 0 and changed > 0 and dirty >= changed, out
    return m.group(0)


def test_dirty_logging_modes(guest_host):
    """Every dirty-logging mode the CPU offers, on one booted host, against the snapshot
    oracle: write protection everywhere; A/D flags (EPT A/D in Bochs' icelake, NPT's D flag
    under QEMU TCG); PML where offered (Bochs). Two guests: memtest checking its own memory
    (logging must not corrupt it) and a scribbler writing round numbers into pages fast
    enough to fill a 512-entry PML log between two exits."""
    h = guest_host
    before = free_pages(h)
    virt = re.search(r"^virt: (.*)$", h.command("host"), re.M).group(1).split()
    modes = ["wp", "ad"] + (["pml"] if "pml" in virt else [])
    assert h.command('vm create d mem=8 args="hb=8 pages=8"').strip() == "vm d: ok"
    assert h.command('vm create s mem=8 args="mode=scribble hb=20000 pages=64"').strip() \
        == "vm s: ok"
    h.command("vm start d")
    h.command("vm start s")
    h.wait_heartbeats("d", 0, 2)
    h.wait_heartbeats("s", 0, 1)
    for mode in modes:
        was = {vm: exits(h, vm, "dirty") for vm in "ds"}
        for vm in "ds":
            assert h.command(f"vm dirty {vm} start {mode}").strip() == f"vm {vm}: ok mode={mode}"
        for _ in range(3):
            time.sleep(2)
            for vm in "ds":
                print(f"\n{h.name} {mode}: {dirty_verify(h, vm)}")
        stats = h.command("vm stats s")
        assert f"dirty: mode={mode} logging=on" in stats, stats
        now = {vm: exits(h, vm, "dirty") for vm in "ds"}
        for vm in "ds":
            assert h.command(f"vm dirty {vm} stop").strip() == f"vm {vm}: ok"
        if mode == "wp":      # logged by write faults
            assert all(now[vm] > was[vm] for vm in "ds"), (was, now)
        elif mode == "ad":    # the CPU sets D flags: no exits at all
            assert now == was, (was, now)
        else:                 # the scribbler fills its log: page-modification-log-full exits
            assert now["s"] > was["s"], (was, now)
        seq = last_seq(h.heartbeats("d", 0), 0)
        check_beats(h.wait_heartbeats("d", 0, seq + 2), 0, seq + 2)   # memory still right
    assert "dirty: mode=%s logging=off" % modes[-1] in h.command("vm stats s")

    # Without a mode the best one offered; a mode the CPU lacks, or no such mode, is refused.
    best = modes[-1]
    assert h.command("vm dirty s start").strip() == f"vm s: ok mode={best}"
    print(f"\n{h.name} auto: {dirty_verify(h, 's')}")
    assert h.command("vm dirty s stop").strip() == "vm s: ok"
    if "pml" not in modes:
        assert "error: dirty mode 'pml' is not available on this CPU (offered: wp ad)" \
            in h.command("vm dirty s start pml")
    assert "error: bad dirty mode 'auto' (wp, ad or pml)" in h.command("vm dirty s start auto")
    assert "usage: vm" in h.command("vm dirty s verify wp")
    assert "error: dirty logging is off" in h.command("vm dirty s verify")

    for vm in "ds":
        assert h.command(f"vm destroy {vm}").strip() == f"vm {vm}: ok"
    assert free_pages(h) == before


def test_images_from_the_boot_volume_and_bad_commands(workdir, hosts):
    with open(os.path.join(BUILD, "guest", "memtest.bin"), "rb") as f:
        flat = f.read()
    images = {
        "memtest.bin": flat,                                  # a flat binary, loaded at 1 MiB
        "junk.elf": b"\x7fELF" + bytes(range(256)) * 4,       # ELF magic, nothing valid after
        "big.bin": b"\x90" * (3 << 20),                       # does not fit in 2 MiB of RAM
    }
    h = BochsHost(workdir, cpus=2, megs=512, images=images)
    hosts.append(h)
    h.start().wait_prompt()
    before = free_pages(h)

    assert h.command('vm create flat mem=4 image=memtest.bin args="hb=4 pages=4"').strip() \
        == "vm flat: ok"
    h.command("vm start flat")
    check_beats(h.wait_heartbeats("flat", 0, 3), 0, 3)
    assert "cmdline=hb=4 pages=4" in h.vm_output("flat", 0)
    h.command("vm destroy flat")

    out = h.command("vm create j mem=4 image=junk.elf")
    assert out.startswith("error: ") and "ELF" in out, out
    out = h.command("vm create b mem=2 image=big.bin")
    assert out.startswith("error: ") and "does not fit" in out, out
    assert "error: bad option 'mem=3'" in h.command("vm create x mem=3")
    assert "error: bad option 'cpus=9'" in h.command("vm create x cpus=9")
    assert "error: bad option 'node=1'" in h.command("vm create x node=1")
    assert "error: a VM name is" in h.command("vm create bad/name")
    assert "error: no image 'nosuch.elf'" in h.command("vm create x image=nosuch.elf")
    assert "has no 8192 MiB" not in h.command("vm create x mem=4096")  # fits? then destroy
    if vm_row(h, "x"):
        h.command("vm destroy x")
    assert "error: no VM named 'ghost'" in h.command("vm start ghost")
    assert h.command("vm create y mem=4").strip() == "vm y: ok"
    assert "error: a VM named 'y' exists" in h.command("vm create y")
    assert "is created, not running" in h.command("vm pause y")
    assert "usage: vm" in h.command("vm frobnicate y")
    h.command("vm destroy y")
    assert h.command("vm list").strip() == "name state mem vcpus node cpus"
    assert free_pages(h) == before


def test_svm_two_vms_of_two_vcpus(workdir, hosts):
    """QEMU -smp 4: three APs run four vCPUs of two VMs at once."""
    h = QemuHost(workdir, smp=4, mem_mb=512)
    hosts.append(h)
    h.start().wait_prompt()
    for name in ("a", "b"):
        assert h.command(f'vm create {name} mem=16 cpus=2 args="hb=16"').strip() == f"vm {name}: ok"
        h.command(f"vm start {name}")
    for name in ("a", "b"):
        for vcpu in (0, 1):
            check_beats(h.wait_heartbeats(name, vcpu, 5), vcpu, 5)
    # vCPUs are spread over the APs: no vCPU on the BSP (cpu 0).
    cpus = [int(c) for name in ("a", "b") for c in vm_row(h, name)[5].split(",")]
    assert 0 not in cpus and len(set(cpus)) == 3, cpus
    stats = h.command("vm stats a")
    assert re.search(r"^exits extint \d+$", stats, re.M), stats   # APIC-timer time slices


def test_svm_nrips_path_in_bochs_ryzen(workdir, hosts):
    """Bochs' ryzen model offers NRIPS: instruction lengths come from the VMCB's next RIP."""
    h = BochsHost(workdir, cpus=2, megs=512, model="ryzen")
    hosts.append(h)
    h.start().wait_prompt()
    assert re.search(r"^virt: svm npt nrips asid$", h.command("host"), re.M)
    h.command('vm create r mem=8 args="hb=8 pages=8"')
    h.command("vm start r")
    check_beats(h.wait_heartbeats("r", 0, 5), 0, 5)
    assert "svm: cpu 1: SVM on (32768 ASIDs, nrips)" in h.command("log")
    # Bochs 2.7 resets the machine on a triple fault in an SVM guest instead of taking the
    # SHUTDOWN intercept, so the triple-fault case runs under QEMU's SVM (test above) only.
    assert h.command("vm pause r").strip() == "vm r: ok"
    seq = last_seq(h.heartbeats("r", 0), 0)
    assert h.command("vm resume r").strip() == "vm r: ok"
    check_beats(h.wait_heartbeats("r", 0, seq + 2), 0, seq + 2)
    assert re.search(r"^exits cpuid 6$", h.command("vm stats r"), re.M)
