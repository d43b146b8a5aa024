"""Live migration between two ferry hosts (QEMU TCG, AMD-V) on one Ethernet segment: the
memtest guest keeps dirtying memory while it moves; its heartbeats continue on the target
with the same sequence and a TSC that never goes backwards. Failures leave it on the source."""
import hashlib
import hmac
import os
import re
import signal
import time

from ferryhost import BOCHS_LINK
from test_net import bxhub, two_hosts  # noqa: F401 (bxhub is a fixture)

KEY = "cluster_key=ferry-test-cluster-key-0001"


def tls_psk(name, key=KEY):
    """The TLS pre-shared key ferry derives for host `name` (net/mig_tls.h), computed here
    from RFC 5869 alone: HKDF-SHA256, salt "ferry-mig-tls-v1", the cluster key, info = name."""
    ikm = key.split("=", 1)[1].encode()
    prk = hmac.new(b"ferry-mig-tls-v1", ikm, hashlib.sha256).digest()
    return hmac.new(prk, name.encode() + b"\x01", hashlib.sha256).hexdigest()


def pair(workdir, hosts, key_a=KEY, key_b=KEY, mem_a=512, mem_b=512, extra_a=(), extra_b=(),
         via=None):
    return two_hosts(workdir, hosts, "virtio-net-pci", "virtio-net-pci", cfg_a=[key_a, *extra_a],
                     cfg_b=[key_b, *extra_b], mem_a=mem_a, mem_b=mem_b, via=via)


# Three migrations at once each way (the fault matrix's phases, one host failure for all).
MANY = ("migrate_incoming_max=4", "migrate_outgoing_max=4")


def names(h):
    return [l.split()[0] for l in h.command("vm list").splitlines()[1:] if l.strip()]


def wait_result(h, timeout=180):
    # Up to the end of the line: pexpect would otherwise match whatever part has arrived.
    h.expect(r"(migrate: (done|failed) [^\r\n]*)\r?\n", timeout=timeout)
    return h.con.match.group(1)


def wait_results(h, vms, timeout=180):
    """The result line of each VM's migration, in whatever order they end."""
    got = {}
    deadline = time.time() + timeout
    while len(got) < len(vms):
        line = wait_result(h, timeout=max(1, deadline - time.time()))
        got[re.match(r"migrate: \w+ vm=(\S+)", line).group(1)] = line
    assert sorted(got) == sorted(vms), got
    return got


def wait_log(h, text, timeout=60):
    """Polls the host's log until text shows up in it."""
    deadline = time.time() + timeout
    while text not in (log := h.command("log")):
        assert time.time() < deadline, log[-2000:]
        time.sleep(0.3)


def let_go(h, timeout=10):
    """The target h holds no VM: it discards a failed migration's skeleton as soon as the
    source's ERROR (or its hang-up) reaches it, which may be just after the source said so."""
    deadline = time.time() + timeout
    while names(h):
        assert time.time() < deadline, (h.command("vm list"), h.command("log")[-2000:])
        time.sleep(0.3)


def wait_receiving(h, vm, timeout=60):
    deadline = time.time() + timeout
    while f"incoming vm={vm} state=receiving" not in (st := h.command("migrate status")):
        assert time.time() < deadline, st
        time.sleep(0.3)


def intact(h, vm, more=2):
    """The guest beats on at h, `more` beats past the last seen, each with memtest's check ok."""
    seq = max(x["seq"] for x in h.heartbeats(vm))
    beats = h.wait_heartbeats(vm, 0, seq + more)
    assert all(x["check"] == "ok" for x in beats), beats


def beats_of(h, vm, vcpu):
    return [b for b in h.heartbeats(vm) if b["vcpu"] == vcpu]


def test_memtest_migrates_and_keeps_beating(workdir, hosts):
    a, b = pair(workdir, hosts)
    a.command('vm create m mem=16 cpus=2 args="hb=16 pages=8"')
    a.command("vm start m")
    src = a.wait_heartbeats("m", 0, 3)
    # AMD-V offers write protection and NPT's dirty flag, no PML; the best is taken by default.
    assert "error: dirty mode 'pml' is not available on this CPU" \
        in a.command("migrate m 10.0.0.2 dirty=pml")
    assert "error: bad option 'dirty=x'" in a.command("migrate m 10.0.0.2 dirty=x")
    assert "error: bad option 'compress=zstd'" in a.command("migrate m 10.0.0.2 compress=zstd")
    assert "error: bad option 'delta=yes'" in a.command("migrate m 10.0.0.2 delta=yes")
    # A source of the last release (stream version 3) is refused with the reason, before
    # anything is reserved on the target; the guest runs on.
    assert "next outgoing migration: old-stream" in a.command("migrate inject old-stream")
    assert a.command("migrate m 10.0.0.2").startswith("migrate: started vm=m")
    line = wait_result(a)
    assert line == ("migrate: failed vm=m phase=auth reason=target error: version: this host "
                    "speaks migration stream version 7, the source 6"), line
    assert names(b) == [] and "incoming stream refused: version" in b.command("log")
    # A budget no stop can keep (1 ms: the vCPU state alone takes longer), not slowed down:
    # after timeout= it gives up, and the guest runs on here at full speed.
    assert a.command("migrate m 10.0.0.2 downtime=1 throttle=0 timeout=10").startswith(
        "migrate: started vm=m")
    line = wait_result(a, timeout=60)
    assert re.fullmatch(r"migrate: failed vm=m phase=precopy reason=no-convergence "
                        r"expected_ms=\d+ budget_ms=1 dirty_kibps=\d+ sent_kibps=\d+ "
                        r"throttle=0 after 10 s", line), line
    assert "m" in names(a)
    let_go(b)
    intact(a, "m")
    # The operator raises the budget of a migration under way: it stops and copies then. The
    # pages go over three connections (streams=3: a 16 MiB guest has eight 2 MiB chunks, so
    # each stream owns some).
    assert "error: bad option 'streams=9'" in a.command("migrate m 10.0.0.2 streams=9")
    assert a.command("migrate m 10.0.0.2 downtime=1 timeout=300 streams=3").startswith(
        "migrate: started vm=m")
    assert "error: no outgoing migration of 'nope' under way" in \
        a.command("migrate set nope downtime=5000")
    assert "error: bad setting 'downtime=0' (downtime=1-60000 ms)" in \
        a.command("migrate set m downtime=0")
    deadline = time.time() + 60
    while not re.search(r"outgoing vm=m state=precopy round=([2-9]|\d\d)",
                        st := a.command("migrate status")):
        assert time.time() < deadline, st
        time.sleep(0.5)
    assert a.command("migrate set m downtime=60000").strip() == "migrate: vm=m downtime=60000"
    line = wait_result(a)
    m = re.match(r"migrate: done vm=m total_ms=(\d+) downtime_ms=(\d+) target_downtime_ms=(\d+) "
                 r"budget_ms=60000 rounds=(\d+) pages=(\d+) zero_pages=(\d+) bytes=(\d+) "
                 r"mbps=(\d+)\.(\d) streams=3 throttle=\d+ compress=lz4 ratio=(\d+\.\d\d) "
                 r"lz4_pages=(\d+) delta_pages=(\d+) dirty=ad$", line)
    assert m, line
    print(f"\n{line}")
    pages, zero = int(m.group(5)), int(m.group(6))
    assert pages >= 4096 and zero > 0 and int(m.group(4)) >= 1, line
    # The target's view of the stop (STOP's arrival to the start) lies within the source's
    # (pause to COMMIT_ACK), give or take the two emulated clocks' rates.
    down, target_down = int(m.group(2)), int(m.group(3))
    assert target_down <= down * 1.1 + 20, line
    # By default (compress=auto) LZ4 is taken. memtest's test pages are hashes and do not
    # shrink, so after the first round it stops paying and is left off (its code, stack and
    # tables did shrink: lz4_pages); what it checks on the target came through either way.
    assert float(m.group(10)) >= 1.0 and int(m.group(11)) > 0, line
    assert "compression does not pay, off" in a.command("log"), a.command("log")[-2000:]
    # Pages sent again (the heartbeat's, the stacks, the round's test page) mostly went as
    # their changes since the copy the target held (delta=on, the default).
    assert int(m.group(12)) > 0, line
    # The source gave the VM up; the target runs it.
    assert "m" not in names(a)
    assert "m" in names(b)
    tgt = b.wait_heartbeats("m", 0, 1, timeout=60)
    first = min(x["seq"] for x in tgt if x["vcpu"] == 0)
    tgt = b.wait_heartbeats("m", 0, first + 3)
    mine = [x for x in tgt if x["vcpu"] == 0]
    src0 = [x for x in src if x["vcpu"] == 0]
    # seq continues from the source's (no restart at 1), consecutive, memory checks ok
    assert mine[0]["seq"] > src0[-1]["seq"], (src0[-1], mine[0])
    seqs = [x["seq"] for x in mine]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    assert all(x["check"] == "ok" for x in tgt), tgt
    assert mine[0]["tsc"] > src0[-1]["tsc"], (src0[-1], mine[0])   # TSC never goes back
    assert any(x["vcpu"] == 1 for x in tgt)


def test_bandwidth_progress_and_limits(workdir, hosts):
    """bandwidth= caps the rate; the progress bar and `migrate status` show the migration;
    the VM cannot be destroyed under it; a target at migrate_incoming_max refuses more."""
    a, b = pair(workdir, hosts, extra_b=["migrate_incoming_max=1"])
    for vm in ("m1", "m2"):
        a.command(f'vm create {vm} mem=16 args="hb=16 pages=8"')
        a.command(f"vm start {vm}")
    a.wait_heartbeats("m2", 0, 2)
    assert "limits: outgoing 2, incoming 2" in a.command("migrate status")
    assert a.command("migrate m1 10.0.0.2 bandwidth=40 compress=off delta=off").startswith(
        "migrate: started vm=m1")
    # The bar shares the prompt's line and is redrawn in place (\r, erase to end of line).
    a.expect(r"\r\x1b\[K\[migrate m1 (precopy|stop-and-copy) r\d+ \[[#.]{20}\] +\d+% "
             r"[\d.]+ MiB/s dirty [\d.]+ MiB/s downtime~\d+ms( throttled)?\] ferry> ", timeout=60)
    st = a.command("migrate status")
    assert re.search(r"migrate: outgoing vm=m1 state=(precopy|stop-and-copy) round=\d+ "
                     r"percent=\d+ pages=\d+ bytes=\d+ mibps=\d+", st), st
    assert "is migrating out" in a.command("vm destroy m1")
    assert "already migrating" in a.command("migrate m1 10.0.0.2")
    assert "incoming vm=m1 state=receiving" in b.command("migrate status")
    # b takes one incoming migration at a time: m2 is refused and keeps running here.
    a.command("migrate m2 10.0.0.2")
    line = wait_result(a)
    assert re.match(r"migrate: failed vm=m2 phase=hello reason=target refused: busy: "
                    r"migrate_incoming_max=1", line), line
    line = wait_result(a, timeout=240)
    m = re.match(r"migrate: done vm=m1 .*bytes=(\d+) mbps=(\d+)\.(\d) streams=1 throttle=\d+ "
                 r"compress=off ratio=1\.00 lz4_pages=0 delta_pages=0 ", line)
    assert m, line
    print(f"\nbandwidth=40: {line}")
    mbps = int(m.group(2)) + int(m.group(3)) / 10
    assert 10 < mbps <= 40 * 1.05, line         # under the cap, and not crawling
    assert names(a) == ["m2"] and "m1" in names(b)
    seq = max(x["seq"] for x in a.heartbeats("m2"))
    a.wait_heartbeats("m2", 0, seq + 2)
    assert all(x["check"] == "ok" for x in b.wait_heartbeats("m1", 0, 1, timeout=60))


def test_cancel_and_lost_commit_or_ack_are_resolved(workdir, hosts):
    """`migrate cancel` at stop-and-copy and at commit, then the connection dies between
    COMMIT and COMMIT_ACK: the source asks the target (QUERY) and either gives its copy up
    (the target runs it) or resumes it (the target never committed). The guest runs on
    exactly one host either way."""
    a, b = pair(workdir, hosts)
    a.command('vm create m mem=8 args="hb=16 pages=1"')
    a.command("vm start m")
    a.wait_heartbeats("m", 0, 2)
    # Cancelled at stop-and-copy (the source holds there, the guest paused): it resumes here,
    # and the target lets go of everything.
    assert "hold-final" in a.command("migrate inject hold-final 10")
    a.command("migrate m 10.0.0.2")
    wait_log(a, "vm m: injected fault: holding at stop-and-copy")
    out = a.command("migrate cancel m")
    found = re.search(r"migrate: (?:done|failed) [^\r\n]*", out)
    line = found.group(0) if found else wait_result(a, timeout=60)
    assert line == "migrate: failed vm=m phase=stop reason=cancelled", line
    intact(a, "m")
    # Cancelled at commit (the target holds COMMIT): not by the source, for the target may own
    # it; the target, which has not started it, can, and the source resumes its copy.
    assert "hold-commit" in b.command("migrate inject hold-commit 10")
    a.command("migrate m 10.0.0.2")
    wait_log(b, "incoming m: injected fault: holding COMMIT")
    assert "that can still be cancelled" in a.command("migrate cancel m")
    assert "error" not in (out := b.command("migrate cancel m")), out
    line = wait_result(a, timeout=60)
    assert re.fullmatch(r"migrate: failed vm=m phase=(stop|commit) reason=target error: "
                        r"cancelled on the target", line), line
    intact(a, "m")
    assert names(b) == [] and "none under way" in b.command("migrate status")
    # The ACK is lost: b runs the guest; a learns it by asking.
    assert "lose-ack" in b.command("migrate inject lose-ack")
    a.command("migrate m 10.0.0.2")
    line = wait_result(a)
    assert re.match(r"migrate: done vm=m .* confirmed=query$", line), line
    assert names(a) == [] and names(b) == ["m"]
    beats = b.wait_heartbeats("m", 0, 2, timeout=60)
    assert all(x["check"] == "ok" for x in beats), beats
    # Back to a, whose COMMIT is lost on the way: a discards it, b asks and resumes.
    assert "lose-commit" in a.command("migrate inject lose-commit")
    seq = max(x["seq"] for x in b.heartbeats("m"))
    b.command("migrate m 10.0.0.1")
    line = wait_result(b)
    assert line.startswith("migrate: failed vm=m phase=commit reason=") and \
        line.endswith("the target never committed it: resumed here"), line
    assert names(a) == [] and names(b) == ["m"]
    b.wait_heartbeats("m", 0, seq + 2)
    assert "running" in b.command("vm list")
    # Without faults it goes through.
    b.command("migrate m 10.0.0.1")
    assert wait_result(b).startswith("migrate: done vm=m ")
    assert names(a) == ["m"] and names(b) == []


def test_wrong_cluster_key_is_refused(workdir, hosts):
    a, b = pair(workdir, hosts, key_b="cluster_key=another-cluster-key-9999")
    a.command('vm create m mem=8 args="hb=16"')
    a.command("vm start m")
    a.wait_heartbeats("m", 0, 2)
    a.command("migrate m 10.0.0.2")
    line = wait_result(a)
    # The TLS handshake fails: b cannot check a's Finished under the key it derives for a's
    # name, says so in an alert, and a reports it; nothing of the VM reached b.
    assert line == ("migrate: failed vm=m phase=connect reason=TLS handshake refused (is "
                    "cluster_key the same on both hosts?)"), line
    assert names(b) == []
    seq = max(x["seq"] for x in a.heartbeats("m"))
    a.wait_heartbeats("m", 0, seq + 2)                    # still running on the source
    log = b.command("log")
    assert re.search(r"TLS handshake from 10\.0\.0\.1 failed: the peer's key is not this "
                     r"cluster's \(wrong cluster_key\?\)", log), log
    assert "TLS handshake with 10.0.0.2 failed: the peer refused the handshake" in a.command("log")
    # A key worth sharing: 256 fresh bits each time (QEMU's -cpu max has RDRAND: no warning).
    keys = [b.command("cluster key generate").strip() for _ in range(2)]
    for k in keys:
        assert re.fullmatch(r"cluster_key=[0-9a-f]{64}", k), keys
    assert keys[0] != keys[1]


def test_target_without_memory_refuses(workdir, hosts):
    a, b = pair(workdir, hosts, mem_a=512, mem_b=256)
    a.command('vm create big mem=300 args="hb=16"')
    a.command("vm start big")
    a.wait_heartbeats("big", 0, 1)
    a.command("migrate big 10.0.0.2")
    line = wait_result(a)
    assert re.match(r"migrate: failed vm=big phase=hello reason=target refused: .*memory", line), line
    assert names(b) == [] and "big" in names(a)
    seq = max(x["seq"] for x in a.heartbeats("big"))
    a.wait_heartbeats("big", 0, seq + 1)


def three_in_flight(a, b, commit_hold):
    """Three guests on a, each migrating to b and caught in another phase: p mid-copy (128 MiB
    trickling at 1 MB/s), q at stop-and-copy (a holds it there 20 s, guest paused), r at commit
    (b holds its COMMIT commit_hold s, neither started nor acknowledged). r must get there
    within q's hold (25 s)."""
    for vm, mem in (("p", 128), ("q", 8), ("r", 4)):
        a.command(f'vm create {vm} mem={mem} args="hb=16 pages=1"')
        a.command(f"vm start {vm}")
    for vm in "pqr":
        a.wait_heartbeats(vm, 0, 2)
    assert a.command("migrate p 10.0.0.2 bandwidth=8").startswith("migrate: started vm=p")
    wait_receiving(b, "p")
    assert "next outgoing migration: hold-final" in a.command("migrate inject hold-final 25")
    assert a.command("migrate q 10.0.0.2").startswith("migrate: started vm=q")
    wait_log(a, "vm q: injected fault: holding at stop-and-copy")
    assert "next incoming migration: hold-commit" in \
        b.command(f"migrate inject hold-commit {commit_hold}")
    assert a.command("migrate r 10.0.0.2").startswith("migrate: started vm=r")
    wait_log(b, "incoming r: injected fault: holding COMMIT")


def test_target_killed_in_each_phase_guest_stays(workdir, hosts):
    """The target host dies with three migrations to it under way: p mid-copy, q at
    stop-and-copy (its source holds it there, guest paused, final state unsent) and r at
    commit (the target holds its COMMIT: not started, not acknowledged). The source gives up
    on p and q once the target makes no progress and resumes them. Of r it cannot know whether
    the target ran it, so it asks, again and again, until the target is back: rebooted, it
    knows nothing of r, and the source resumes r too. A fourth, s, starts while the target is
    down: its handshake gets no answer, and it stays. Last, the target dies holding s's
    HELLO unanswered: s stays. Each guest's memory is intact."""
    a, b = pair(workdir, hosts, extra_a=MANY, extra_b=MANY)
    a.command('vm create s mem=4 args="hb=16 pages=1"')
    a.command("vm start s")
    three_in_flight(a, b, commit_hold=20)
    b.kill()
    assert a.command("migrate s 10.0.0.2").startswith("migrate: started vm=s")
    lines = {}
    while "s" not in lines:             # b stays down until s gave up
        line = wait_result(a, timeout=60)
        lines[re.match(r"migrate: \w+ vm=(\S+)", line).group(1)] = line
    assert re.fullmatch(r"migrate: failed vm=s phase=(connect|auth) reason=.*", lines["s"]), lines
    b.restart()
    lines.update(wait_results(a, [vm for vm in "pqr" if vm not in lines], timeout=120))
    for vm, phase in (("p", "precopy"), ("q", "stop")):
        assert re.fullmatch(rf"migrate: failed vm={vm} phase={phase} reason=(no progress from "
                            r"the target for 10 s|connection lost|the peer closed the "
                            r"connection)", lines[vm]), lines
    assert re.fullmatch(r"migrate: failed vm=r phase=commit reason=.*; the target never "
                        r"committed it: resumed here", lines["r"]), lines
    assert sorted(names(a)) == ["p", "q", "r", "s"] and names(b) == []
    for vm in "pqrs":
        intact(a, vm)
    assert "none under way" in b.command("migrate status")
    # At hello: b took s's HELLO but has not answered when it dies; the source gives up and
    # s, never paused, runs on.
    assert "next incoming migration: hold-accept" in b.command("migrate inject hold-accept 10")
    assert a.command("migrate s 10.0.0.2").startswith("migrate: started vm=s")
    wait_log(b, "incoming s: injected fault: holding ACCEPT")
    b.kill()
    line = wait_result(a, timeout=60)
    assert re.fullmatch(r"migrate: failed vm=s phase=hello reason=no progress from the target "
                        r"for 10 s", line), line
    intact(a, "s")


def test_source_killed_in_each_phase(workdir, hosts):
    """The source host dies (no FIN, no RST reaches the target) with four migrations under
    way: t at hello (the target holds its ACCEPT), p mid-copy, q at stop-and-copy (held there
    by the source), r at commit (the target holds its COMMIT). The target discards t, p and q
    once nothing arrived for 30 s and keeps
    nothing of them; r it had been told to commit, so it starts it and r runs there, its memory
    intact. The guests that were on the source died with it: none runs twice."""
    from test_guests import free_pages
    a, b = pair(workdir, hosts, extra_a=MANY, extra_b=MANY)
    before = free_pages(b)
    a.command('vm create t mem=4 args="hb=16 pages=1"')
    a.command("vm start t")
    three_in_flight(a, b, commit_hold=10)
    assert "next incoming migration: hold-accept" in b.command("migrate inject hold-accept 20")
    assert a.command("migrate t 10.0.0.2").startswith("migrate: started vm=t")
    wait_log(b, "incoming t: injected fault: holding ACCEPT")
    a.kill()
    t0 = time.time()
    b.expect(r"migrate: incoming vm=r running", timeout=30)
    intact(b, "r")
    while sorted(names(b)) != ["r"] or "none under way" not in b.command("migrate status"):
        assert time.time() - t0 < 90, (names(b), b.command("migrate status"))
        time.sleep(1)
    assert time.time() - t0 > 20, time.time() - t0    # it gave the source its 30 s
    log = b.command("log")
    for vm in "pqt":
        assert f"incoming {vm} from 10.0.0.1: nothing received for 30 s, discarded" in log, log
    b.command("vm destroy r")
    assert names(b) == [] and free_pages(b) == before


def test_attacker_on_the_wire(workdir, hosts):
    """An active attacker between the hosts (tests/system/wire.py) alters one byte of the TLS
    stream mid-copy, cuts the link mid-copy, alters a byte at stop-and-copy: each time the
    migration fails, the guest runs on at the source with its memory intact (memtest's
    check) and the target keeps nothing. Then it alters the target's COMMIT_ACK: the source
    asks and learns that the target runs the guest. After the acknowledgement the link is cut
    and the source killed, and the guest runs on at the target."""
    from test_guests import free_pages
    from wire import Wire
    wires = []

    def via(port):
        wires.append(Wire(port))
        return wires[0].port

    try:
        a, b = pair(workdir, hosts, via=via)
        w = wires[0]
        before = free_pages(b)

        def stayed(timeout):
            """b lets go of everything within timeout s; the guest beats on at a, intact."""
            deadline = time.time() + timeout
            while "m" in names(b) or free_pages(b) != before:
                assert time.time() < deadline, (names(b), free_pages(b), before)
                time.sleep(1)
            seq = max(x["seq"] for x in a.heartbeats("m"))
            assert all(x["check"] == "ok" for x in a.wait_heartbeats("m", 0, seq + 2))

        a.command('vm create m mem=16 args="hb=16 pages=1"')
        a.command("vm start m")
        a.wait_heartbeats("m", 0, 2)

        # One byte of a record, 1 MiB into the copy: its tag fails on the target, which ends
        # the connection; the source resumes the guest.
        w.corrupt(7700, 1 << 20)
        assert a.command("migrate m 10.0.0.2").startswith("migrate: started vm=m")
        line = wait_result(a, timeout=120)
        assert w.corrupted == 1, line
        assert re.match(r"migrate: failed vm=m phase=precopy reason=(connection lost|target "
                        r"closed the connection)$", line), line
        log = b.command("log")
        assert re.search(r"TLS connection from 10\.0\.0\.1 ended: a record failed its check "
                         r"\(altered on the way\?\)", log), log
        stayed(30)

        # The link cut mid-copy: the source gives up after 10 s without progress and resumes;
        # once the link is back the target hears the end and discards its skeleton.
        assert a.command("migrate m 10.0.0.2").startswith("migrate: started vm=m")
        deadline = time.time() + 60
        while "incoming vm=m state=receiving" not in (st := b.command("migrate status")):
            assert time.time() < deadline, st
            time.sleep(0.5)
        w.cut()
        line = wait_result(a, timeout=120)
        assert re.match(r"migrate: failed vm=m phase=(precopy|stop) reason=no progress from "
                        r"the target for 10 s$", line), line
        w.mend()
        stayed(90)

        # At stop-and-copy: the source holds there, the guest paused; the first record after
        # the hold is altered. The target hangs up before any COMMIT counts; the guest resumes.
        assert "hold-final" in a.command("migrate inject hold-final 5")
        assert a.command("migrate m 10.0.0.2").startswith("migrate: started vm=m")
        wait_log(a, "vm m: injected fault: holding at stop-and-copy", timeout=120)
        w.corrupt(7700, 0)
        line = wait_result(a, timeout=120)
        assert w.corrupted == 1, line
        assert re.fullmatch(r"migrate: failed vm=m phase=(stop reason=.*|commit reason=.*; the "
                            r"target never committed it: resumed here)", line), line
        stayed(30)

        # At commit: the target holds COMMIT, then its acknowledgement is altered on the way.
        # The target runs the guest; the source cannot read the ACK, asks over a new
        # connection, learns it and lets go.
        assert "hold-commit" in b.command("migrate inject hold-commit 5")
        assert a.command("migrate m 10.0.0.2").startswith("migrate: started vm=m")
        wait_log(b, "incoming m: injected fault: holding COMMIT", timeout=120)
        w.corrupt(7700, 0, sent=True)
        line = wait_result(a, timeout=120)
        assert w.corrupted == 1, line
        assert re.match(r"migrate: done vm=m .* confirmed=query$", line), line
        assert names(a) == [] and names(b) == ["m"]
        assert "TLS connection with 10.0.0.2 ended: a record failed its check" in \
            a.command("log")

        # After the acknowledgement neither a cut link nor the source's death touches it.
        w.cut()
        os.killpg(a.proc.pid, signal.SIGKILL)
        seq = max(x["seq"] for x in b.heartbeats("m"))
        assert all(x["check"] == "ok" for x in b.wait_heartbeats("m", 0, seq + 3))
        assert names(b) == ["m"]
    finally:
        for w in wires:
            w.close()


def test_cross_vendor_vtx_to_amdv_and_back(workdir, hosts, bxhub):
    """A memtest VM on the x86-64-v2 baseline moves from a Bochs VT-x host (Intel) to a QEMU
    AMD-V host and back over one bxhub segment: the arch-neutral vCPU record, the XSAVE area
    trimmed to the VM's XCR0 and the VM's own CPU policy make the trip; heartbeats go on with
    the same sequence, check=ok, the TSC forward, and the guest keeps its Intel CPUID."""
    from ferryhost import BochsHost
    from test_net import qemu_on_bxhub
    a = BochsHost(workdir, name="vmx", config=["ip=10.0.6.1/24", KEY],
                  e1000=("b0:c4:20:00:00:21", bxhub))
    q = qemu_on_bxhub(workdir, "svm", ["ip=10.0.6.2/24", KEY], bxhub, "52:54:00:00:00:22")
    hosts.extend([a, q])
    a.start()
    q.start()
    a.wait_prompt()
    q.wait_prompt()
    q.command("ping 10.0.6.1 2", timeout=60)            # bxhub learns both MACs
    # Slow writer: the Bochs side receives at ~0.1 MiB/s of host time.
    out = a.command('vm create m mem=4 cpu=x86-64-v2 args="hb=1 pages=2 delay=20000000"')
    assert out.strip() == "vm m: ok", out
    a.command("vm start m")
    policy = a.command("cpu show m")
    assert "vendor GenuineIntel" in policy, policy
    src = [x for x in a.wait_heartbeats("m", 0, 2, timeout=180) if x["vcpu"] == 0]
    a.command("migrate m 10.0.6.2" + BOCHS_LINK)
    line = wait_result(a, timeout=600)
    assert line.startswith("migrate: done vm=m "), line
    print(f"\nVT-x -> AMD-V: {line}")
    assert names(a) == [] and names(q) == ["m"]
    assert q.command("cpu show m") == policy            # still the Intel v2 CPU
    tgt = [x for x in q.wait_heartbeats("m", 0, src[-1]["seq"] + 2, timeout=120) if x["vcpu"] == 0]
    assert tgt[0]["seq"] > src[-1]["seq"] and tgt[0]["tsc"] > src[-1]["tsc"], (src[-1], tgt[0])
    assert all(x["check"] == "ok" for x in tgt), tgt
    q.command("migrate m 10.0.6.1" + BOCHS_LINK)
    line = wait_result(q, timeout=900)
    assert line.startswith("migrate: done vm=m "), line
    print(f"AMD-V -> VT-x: {line}")
    assert names(q) == [] and names(a) == ["m"]
    back = [x for x in a.wait_heartbeats("m", 0, tgt[-1]["seq"] + 1, timeout=300) if x["vcpu"] == 0]
    assert back[-1]["seq"] > tgt[-1]["seq"] and back[-1]["tsc"] > tgt[-1]["tsc"], (tgt[-1], back)
    assert all(x["check"] == "ok" for x in back), back
