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
    assert h.command("vm start beat").strip() == "vm beat: ok"

    beats = h.wait_heartbeats("beat", 0, 5)
    check_beats(beats, 0, 5)
    h.wait_heartbeats("beat", 1, 1)
    out = h.vm_output("beat", 0)
    assert "MEMTEST start vcpus=2 mem=8388608" in out
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

    # Dirty logging (write protection of EPT/NPT) against a snapshot oracle: with the VM
    # paused at each harvest, every page whose contents changed must have been logged.
    assert h.command("vm dirty beat start").strip() == "vm beat: ok"
    for _ in range(3):
        time.sleep(2)
        out = h.command("vm dirty beat verify")
        m = re.search(r"^dirty: vm=beat pages=2048 changed=(\d+) dirty=(\d+) missed=(\d+)$",
                      out, re.M)
        assert m, out
        changed, dirty, missed = map(int, m.groups())
        assert missed == 0 and changed > 0 and dirty >= changed, out
    assert h.command("vm dirty beat stop").strip() == "vm beat: ok"
    seq = last_seq(h.heartbeats("beat", 0), 0)
    check_beats(h.wait_heartbeats("beat", 0, seq + 2), 0, seq + 2)   # still right after logging

    stats = h.command("vm stats beat")
    assert re.search(r"^exits dirty \d+$", stats, re.M), stats
    assert re.search(r"^exits cpuid 5$", stats, re.M), stats
    assert re.search(r"^exits io \d+$", stats, re.M), stats
    # VT-x ends slices with the preemption timer, SVM with the APIC timer (an external interrupt)
    assert re.search(r"^exits (timeslice|extint) \d+$", stats, re.M), stats

    # Destroying both gives every frame back.
    assert h.command("vm destroy bad").strip() == "vm bad: ok"
    assert h.command("vm destroy beat").strip() == "vm beat: ok"
    assert vm_row(h, "beat") is None and vm_row(h, "bad") is None
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
    assert re.search(r"^exits cpuid 5$", h.command("vm stats r"), re.M)
