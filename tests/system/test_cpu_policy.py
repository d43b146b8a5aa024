"""CPU baselines seen from inside a guest: the memtest guest prints CPUID leaves 0, 1, 7, 0xD
(XCR0 mask) and 0x80000001, and those must show nothing outside the VM's baseline.

Two QEMU TCG hosts (AMD SVM), one after the other: -cpu max (AVX2, no AVX-512) and the small
qemu64 (SSE3, CX16, LAHF; no SSSE3/SSE4/POPCNT, no XSAVE). A baseline looks the same on both;
cpu=host follows each host's own CPU; a baseline a host cannot run is refused with the list of
what it lacks. Then a Bochs VT-x host (corei7_icelake_u, AVX-512): x86-64-v4, the same v2 as
on AMD, and XCR0 enforcement through memtest's xcr0=N. QEMU's TCG does not honour the SVM
XSETBV intercept (the guest's XSETBV never exits) and Bochs resets the machine on an SVM
guest's triple fault, so XSETBV refusals can only be seen under VT-x here.
Bit positions here come from the SDM / APM, not from ferry's tables.
"""
import re
import time

from ferryhost import BochsHost, QemuHost

BIT = lambda *bits: sum(1 << b for b in bits)   # noqa: E731

# Leaf 1 EDX of x86-64-v1 (the psABI's FPU CX8 CMOV MMX FXSR SSE SSE2 and the platform set:
# DE PSE TSC MSR PAE MCE APIC SEP MTRR PGE PAT PSE36 CLFLUSH); HTT (28) is per VM.
V1_EDX = BIT(0, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15, 16, 17, 19, 23, 24, 25, 26)
V2_ECX = BIT(0, 9, 13, 19, 20, 23)              # SSE3 SSSE3 CX16 SSE4.1 SSE4.2 POPCNT
HYPERVISOR, XSAVE, OSXSAVE, AVX = BIT(31), BIT(26), BIT(27), BIT(28)
X2APIC = BIT(21)                                # ferry's local APIC, in every baseline
E1_ECX_V2 = BIT(0)                              # LAHF/SAHF in 64-bit mode
E1_EDX_V1 = BIT(11, 20, 29)                     # SYSCALL NX LM
E1_EDX_MIRROR = 0x0183f3ff                      # APM E.4.2: AMD copies leaf 1 EDX bits here
AVX2 = BIT(5)


def cpuid_lines(h, vm):
    """{leaf: (eax, ebx, ecx, edx)} from the guest's banner."""
    h.wait_heartbeats(vm, 0, 1)
    out = h.vm_output(vm, 1)
    regs = {}
    for m in re.finditer(r"^CPUID leaf=0x([0-9a-f]+) eax=([0-9a-f]+) ebx=([0-9a-f]+) "
                         r"ecx=([0-9a-f]+) edx=([0-9a-f]+)$", out, re.M):
        regs[int(m.group(1), 16)] = tuple(int(x, 16) for x in m.groups()[1:])
    assert set(regs) == {0, 1, 7, 0xd, 0x80000001, 0x80000008}, out
    return regs


def create_and_start(h, name, cpu):
    assert h.command(f'vm create {name} mem=8 args="hb=8 pages=8" cpu={cpu}').strip() \
        == f"vm {name}: ok"
    assert h.command(f"vm start {name}").strip() == f"vm {name}: ok"
    return cpuid_lines(h, name)


def wait_stopped(h, name, timeout=60):
    deadline = time.time() + timeout
    while True:
        stats = h.command(f"vm stats {name}")
        if "state stopped" in stats:
            return stats
        assert time.time() < deadline, stats
        time.sleep(1)


def check_xsetbv(h, name, cpu, xcr0, allowed):
    """memtest's xcr0=N: XSETBV either works (XCR0 line, XSAVE size for it) or is refused."""
    assert h.command(f'vm create {name} mem=8 args="hb=8 pages=8 xcr0={xcr0}" cpu={cpu}') \
        .strip() == f"vm {name}: ok"
    h.command(f"vm start {name}")
    if not allowed:
        stats = wait_stopped(h, name)
        assert "stopped: triple fault on vcpu 0" in stats, stats   # #UD / #GP, no IDT
        assert "XCR0 now" not in h.vm_output(name, 0.5)
        return None
    h.wait_heartbeats(name, 0, 1)
    out = h.vm_output(name, 0.5)
    assert f"XCR0 now=0x{xcr0:x}\n" in out, out
    return [int(x, 16) for x in re.findall(r"^CPUID leaf=0xd eax=\w+ ebx=(\w+)", out, re.M)]


def feature_regs(r):
    """The registers made of feature bits, and the signature: what a baseline fixes."""
    return (r[1][0], r[1][2], r[1][3], r[7], r[0xd], r[0x80000001][2], r[0x80000001][3])


AMD = (0x68747541, 0x444d4163, 0x69746e65)
INTEL = (0x756e6547, 0x6c65746e, 0x49656e69)


def check_v1_or_v2(r, level, vendor=AMD):
    eax, _, ecx, edx = r[1]
    assert r[0][1:] == vendor                           # the host's vendor string
    # Family 0x1f (AMD) / 6 (Intel), model 0xf0 + level, stepping 0.
    assert eax == (0x010f0f00 if vendor == AMD else 0x000f0600) | level << 4, hex(eax)
    assert ecx == HYPERVISOR | X2APIC | (V2_ECX if level == 2 else 0), hex(ecx)  # no OSXSAVE
    assert edx == V1_EDX, hex(edx)
    assert r[7] == (0, 0, 0, 0), r[7]                   # no AVX2, BMI, ... at all
    assert r[0xd] == (0, 0, 0, 0), r[0xd]               # no XSAVE: XCR0 mask empty
    _, _, e1_ecx, e1_edx = r[0x80000001]
    assert e1_ecx == (E1_ECX_V2 if level == 2 else 0), hex(e1_ecx)
    assert e1_edx & ~E1_EDX_MIRROR == E1_EDX_V1, hex(e1_edx)   # no 1G pages, RDTSCP, 3DNow!
    assert e1_edx & E1_EDX_MIRROR & ~V1_EDX == 0, hex(e1_edx)
    if vendor == INTEL:
        assert e1_edx == E1_EDX_V1, hex(e1_edx)         # Intel mirrors nothing


def test_baselines_in_the_guest_on_two_hosts(workdir, hosts):
    # Host A: QEMU's -cpu max.
    a = QemuHost(workdir, smp=2, mem_mb=256, cpu="max", name="qemu-max")
    hosts.append(a)
    a.start().wait_prompt()
    show = a.command("cpu show")
    assert re.search(r"^baseline x86-64-v3: ok$", show, re.M), show
    assert re.search(r"^baseline x86-64-v4: missing=avx512f,avx512dq,avx512cd,avx512bw,"
                     r"avx512vl$", show, re.M), show
    out = a.command("vm create big mem=8 cpu=x86-64-v4")
    assert out.strip() == ("error: this host cannot run CPU baseline x86-64-v4: "
                           "missing=avx512f,avx512dq,avx512cd,avx512bw,avx512vl"), out
    assert "error: no CPU baseline 'x86-64-v9'" in a.command("vm create n mem=8 cpu=x86-64-v9")
    assert "cluster CPU baseline is not set" in a.command("vm create c mem=8 cpu=cluster")
    assert a.command("vm list").strip() == "name state mem vcpus node cpus"   # nothing left

    v2 = create_and_start(a, "v2", "x86-64-v2")
    check_v1_or_v2(v2, 2)
    shown = a.command("cpu show v2")
    assert re.search(r"^vm v2: baseline x86-64-v2 vendor AuthenticAMD family 0x1f model 0xf2 "
                     r"stepping 0x0 xcr0 0x3$", shown, re.M), shown
    listed = re.search(r"^x86-64-v2: .*\n  \d+ features: (.*)$", a.command("cpu baselines"),
                       re.M).group(1)
    assert re.search(r"^features: (.*)$", shown, re.M).group(1) == listed

    # The same host, cpu=host: what the baseline took away is really there.
    host_a = create_and_start(a, "all", "host")
    # Address sizes: the host's for cpu=host; a baseline's MAXPHYADDR is at most 39 bits (it
    # moves only to hosts with at least as many), nested paging's guest width not shown.
    phys, linear = host_a[0x80000008][0] & 0xff, host_a[0x80000008][0] >> 8 & 0xff
    assert phys >= 36 and linear in (48, 57), hex(host_a[0x80000008][0])
    assert v2[0x80000008][0] == min(phys, 39) | 48 << 8, hex(v2[0x80000008][0])   # no LA57
    assert host_a[7][1] & AVX2 and host_a[1][2] & (AVX | XSAVE) == AVX | XSAVE
    assert host_a[0xd][0] & 0x7 == 0x7                  # XCR0 x87 SSE YMM
    assert host_a[1][0] != v2[1][0]                     # the host's own family/model
    v1_a = create_and_start(a, "v1", "x86-64-v1")
    check_v1_or_v2(v1_a, 1)

    # A cluster baseline set by hand: v1 plus what is listed, nothing else.
    assert a.command("cpu baseline set cluster sse4_2,popcnt").strip() \
        == "baseline cluster: 26 features"
    cl = create_and_start(a, "cl", "cluster")
    assert cl[1][2] == HYPERVISOR | X2APIC | BIT(20, 23), hex(cl[1][2])
    assert cl[1][0] == 0x010f0fc0, hex(cl[1][0])
    a.stop()

    # Host B: qemu64, much smaller.
    b = QemuHost(workdir, smp=2, mem_mb=256, cpu="qemu64,+svm,+npt", name="qemu64")
    hosts.append(b)
    b.start().wait_prompt()
    out = b.command("vm create v2 mem=8 cpu=x86-64-v2")
    assert out.strip() == ("error: this host cannot run CPU baseline x86-64-v2: "
                           "missing=ssse3,sse4_1,sse4_2,popcnt"), out
    assert re.search(r"^baseline x86-64-v2: missing=ssse3,sse4_1,sse4_2,popcnt$",
                     b.command("cpu show"), re.M)
    host_b = create_and_start(b, "all", "host")
    _, _, ecx, edx = host_b[1]
    assert ecx & BIT(0, 13) == BIT(0, 13) and ecx & BIT(9, 19, 20, 23) == 0, hex(ecx)
    assert ecx & (XSAVE | OSXSAVE | AVX) == 0 and host_b[7][1] == 0, host_b
    assert host_b[0xd] == (0, 0, 0, 0)
    v1_b = create_and_start(b, "v1", "x86-64-v1")
    check_v1_or_v2(v1_b, 1)
    # One baseline, two different CPUs: the guest cannot tell them apart.
    assert feature_regs(v1_a) == feature_regs(v1_b), (v1_a, v1_b)
    assert feature_regs(host_a) != feature_regs(host_b)


V4_L7_EBX = BIT(3, 5, 8, 16, 17, 28, 30, 31)    # BMI1 AVX2 BMI2 AVX512F/DQ/CD/BW/VL
V3_L1_ECX = V2_ECX | BIT(12, 22, 26, 28, 29)    # + FMA MOVBE XSAVE AVX F16C


def test_v4_and_xcr0_under_vtx(workdir, hosts):
    h = BochsHost(workdir, cpus=2, megs=256)
    hosts.append(h)
    h.start().wait_prompt()
    assert re.search(r"^baseline x86-64-v4: ok$", h.command("cpu show"), re.M)

    v2 = create_and_start(h, "v2", "x86-64-v2")
    check_v1_or_v2(v2, 2, INTEL)                        # the same v2 as on AMD

    # x86-64-v4 with XCR0 = x87|SSE|AVX|opmask|ZMM: leaf 0xD sizes follow it.
    sizes = check_xsetbv(h, "v4", "x86-64-v4", 0xe7, True)
    assert sizes == [576, 2688], sizes                  # Hi16_ZMM ends at 1664 + 1024
    v4 = cpuid_lines(h, "v4")
    assert v4[0][1:] == INTEL
    assert v4[1][0] == 0x000f0640, hex(v4[1][0])
    assert v4[1][2] == V3_L1_ECX | HYPERVISOR | X2APIC, hex(v4[1][2])  # printed before CR4.OSXSAVE
    assert v4[7] == (0, V4_L7_EBX, 0, 0), v4[7]
    assert v4[0xd][0] == 0xe7 and v4[0xd][3] == 0, v4[0xd]   # no MPX, no PKRU
    assert v4[0x80000001][2:] == (E1_ECX_V2 | BIT(5), E1_EDX_V1)      # + LZCNT
    assert re.search(r"^exits xsetbv 1$", h.command("vm stats v4"), re.M)

    # What a baseline masks cannot be enabled: #GP, or #UD without XSAVE (no IDT: shutdown).
    check_xsetbv(h, "x3", "x86-64-v3", 0xe7, False)     # AVX-512 state: not in v3
    check_xsetbv(h, "x2", "x86-64-v2", 3, False)        # no XSAVE in v2 at all
    check_xsetbv(h, "x5", "host", 5, False)             # YMM without SSE: never valid
    # The host policy: AVX-512 state yes; PKRU no, though Bochs lists it in XCR0's mask: its
    # CPUID 0xD.9 describes nothing (size 0), and Linux refuses such an XSAVE layout.
    check_xsetbv(h, "xh", "host", 0xe7, True)
    check_xsetbv(h, "xp", "host", 0x2e7, False)


def test_migration_checks_the_cpu_and_cluster_baseline(workdir, hosts):
    """A VM on the `host` baseline of a -cpu max host is refused by a qemu64 target before any
    page moves (the reason lists what qemu64 lacks) and keeps running; `cpu baseline compute`
    asks the target for its CPU, and a VM on the resulting `cluster` baseline migrates, its
    CPU policy unchanged on the target and equal to a cluster VM created there."""
    from test_migrate import KEY, names, wait_result
    from test_net import two_hosts
    a, b = two_hosts(workdir, hosts, "virtio-net-pci", "virtio-net-pci", cfg_a=[KEY],
                     cfg_b=[KEY], qemu_b={"cpu": "qemu64,+svm,+npt"})
    create_and_start(a, "h", "host")
    a.command("migrate h 10.0.0.2")
    line = wait_result(a)
    m = re.match(r"migrate: failed vm=h phase=hello reason=cpu missing=(\S+)$", line)
    assert m, line
    missing = m.group(1).split(",")
    assert "avx2" in missing and "ssse3" in missing and "popcnt" in missing, missing
    assert names(b) == [] and "running" in a.command("vm list")
    # The cluster of the two: asked over the network, then used for a VM that can move.
    out = a.command("cpu baseline compute 10.0.0.2", timeout=60)
    assert re.search(r"^cpu: 10\.0\.0\.2: AuthenticAMD, \d+ features$", out, re.M), out
    assert re.search(r"^baseline cluster: \d+ features from 1 hosts$", out, re.M), out
    src = create_and_start(a, "c", "cluster")
    policy_a = a.command("cpu show c")
    a.command("migrate c 10.0.0.2")
    line = wait_result(a)
    assert line.startswith("migrate: done vm=c "), line
    assert names(b) == ["c"]
    assert b.command("cpu show c") == policy_a          # the same CPU on the target
    assert all(x["check"] == "ok" for x in b.wait_heartbeats("c", 0, 2, timeout=60))
    # A cluster VM created on the target sees exactly what the migrated guest saw.
    b.command("cpu baseline compute 10.0.0.1", timeout=60)
    here = create_and_start(b, "c2", "cluster")
    assert feature_regs(here) == feature_regs(src), (here, src)
    assert not (src[7][1] & AVX2) and not (src[1][2] & BIT(9))     # no AVX2, no SSSE3
