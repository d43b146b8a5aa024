"""Guest disks on network storage (issue 13): a real nbd-server (Debian's) on this machine, two
QEMU (AMD-V) hosts that reach it through a second NIC on QEMU user networking (10.0.2.2 is
this machine), a Linux guest whose virtio-blk is `disk=nbd://10.0.2.2:PORT/disk`.

One boot, several checks: the guest reads the export byte for byte; what it writes and syncs
is in the server's file (flush honoured end to end); it live-migrates to the other host with
nothing of the disk copied (the target opens the export itself, the source's requests drained
before its state was taken) and reads there what it wrote; bad nbd:// disks are refused with
the reason and nothing is left behind; a target that cannot reach the export refuses the
migration and the guest runs on."""
import contextlib
import hashlib
import os
import random
import re
import signal
import socket
import subprocess
import time

import pytest

from ferryhost import BUILD, QemuHost, free_port
from test_guests import assert_refused, free_pages
from test_linux import ARGS
from test_migrate import KEY, names, tls_psk, wait_result
from test_net import esp_with_config
from test_virtio import run

GUEST_ARGS = ARGS.replace("hb=1", "hb=0")
IMAGES = [os.path.join(BUILD, "linux", f) for f in ("vmlinuz", "initrd.img")]
SECTORS = 32768                         # 16 MiB


@pytest.fixture
def nbd(workdir):
    """nbd-server on 127.0.0.1 (a free port) exporting "disk", a file of random bytes: (port,
    path). Killed by its PID when the test ends, whatever happened."""
    with nbd_server(workdir, SECTORS) as server:
        yield server


@contextlib.contextmanager
def nbd_server(workdir, sectors):
    """The nbd fixture's server, for scripts too (bench/disk.py): an export of sectors."""
    path = os.path.join(workdir, "nbd-disk.img")
    with open(path, "wb") as f:
        f.write(random.Random(31).randbytes(sectors * 512))
    port = free_port()
    conf = os.path.join(workdir, "nbd.conf")
    with open(conf, "w") as f:
        f.write(f"[generic]\n    listenaddr = 127.0.0.1\n    port = {port}\n"
                f"[disk]\n    exportname = {path}\n    flush = true\n    fua = true\n")
    # Daemon mode (it forks a server per client; -d would serve one client and exit), its PID
    # in a file: it and the servers it forked are killed by PID whatever the test did.
    pidfile = os.path.join(workdir, "nbd-server.pid")
    with open(os.path.join(workdir, "nbd-server.log"), "w") as log:
        subprocess.run(["nbd-server", "-C", conf, "-p", pidfile], stdout=log, stderr=log,
                       check=True, timeout=30)
    pid = None
    try:
        deadline = time.time() + 10
        while subprocess.run(["ss", "-ltn", f"sport = :{port}"], capture_output=True,
                             text=True).stdout.count("LISTEN") == 0 or not os.path.exists(pidfile):
            assert time.time() < deadline, "nbd-server did not start"
            time.sleep(0.1)
        with open(pidfile) as f:
            pid = int(f.read().split()[0])
        yield port, path
    finally:
        if pid is None and os.path.exists(pidfile):
            with open(pidfile) as f:
                pid = int(f.read().split()[0])
        if pid:
            subprocess.run(["pkill", "-TERM", "-P", str(pid)])
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                    time.sleep(0.1)
                except ProcessLookupError:
                    break
            else:
                os.kill(pid, signal.SIGKILL)


def hosts_on_wire_and_user_net(workdir, hosts, fwd_b=None):
    """a (10.0.0.1) and b (10.0.0.2) on one socket segment (eth0), each with eth1 on QEMU user
    networking at 10.0.2.15 (its own NAT: 10.0.2.2 is this machine); fwd_b: a port on this
    machine forwarded to b's migration port."""
    port = free_port()
    hs = []
    for i, (name, how) in enumerate((("a", "listen"), ("b", "connect"))):
        hs.append(QemuHost(workdir, smp=2, mem_mb=640, name=name,
                           esp=esp_with_config(workdir, name, [f"ip=10.0.0.{i + 1}/24", KEY,
                                                                f"hostname=node-{name}"],
                                               IMAGES if name == "a" else ()),
                           extra=["-netdev", f"socket,id=n0,{how}=127.0.0.1:{port}",
                                  "-device", f"e1000,netdev=n0,mac=52:54:00:00:00:0{i + 1}",
                                  "-netdev", "user,id=n1" + (
                                      f",hostfwd=tcp:127.0.0.1:{fwd_b}-10.0.2.15:7700"
                                      if fwd_b and name == "b" else ""),
                                  "-device", f"e1000,netdev=n1,mac=52:54:00:00:01:0{i + 1}"]))
    hosts.extend(hs)
    for h in hs:
        h.start()
    for h in hs:
        h.wait_prompt()
        out = h.command("net ip eth1 10.0.2.15/24")
        assert not out.startswith("error"), out
    return hs


def file_md5(path, off=0, n=None):
    with open(path, "rb") as f:
        f.seek(off)
        return hashlib.md5(f.read() if n is None else f.read(n)).hexdigest()


def s_client(port, psk, identity):
    """A stock `openssl s_client` handshake with ferry's migration port (TLS 1.2, ECDHE-PSK,
    ChaCha20-Poly1305), stdin closed once it is done: its output."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2",
                        "-cipher", "ECDHE-PSK-CHACHA20-POLY1305", "-psk", psk,
                        "-psk_identity", identity, "-brief"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    return r.stdout + r.stderr


def check_tls_port(h, port):
    """openssl completes a handshake with h's migration port under a host name's key, and is
    refused with another cluster's key or an identity that is not a host name; a peer that
    does not speak TLS is dropped. Each is logged with the reason."""
    out = s_client(port, tls_psk("probe"), "probe")
    assert "CONNECTION ESTABLISHED" in out and "Protocol version: TLSv1.2" in out, out
    assert "Ciphersuite: ECDHE-PSK-CHACHA20-POLY1305" in out, out
    out = s_client(port, tls_psk("probe", "cluster_key=another-cluster-key-9999"), "probe")
    assert "CONNECTION ESTABLISHED" not in out and "alert" in out, out
    out = s_client(port, tls_psk("no_such.name"), "no_such.name")
    assert "CONNECTION ESTABLISHED" not in out, out
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"FERRYMIG" + bytes(56))      # a cleartext stream's first bytes
        try:
            while sock.recv(4096):
                pass
        except ConnectionResetError:
            pass
    deadline = time.time() + 30
    while "does not speak ferry's TLS" not in (log := h.command("log")):
        assert time.time() < deadline, log
    assert "TLS from 10.0.2.2 as probe (TLS-ECDHE-PSK-WITH-CHACHA20-POLY1305-SHA256)" in log, log
    assert "TLS handshake from 10.0.2.2 failed: the peer's key is not this cluster's" in log, log
    assert "TLS peer presented an identity that is not a host name" in log, log


def test_guest_disk_on_nbd_and_its_migration(workdir, hosts, nbd):
    port, path = nbd
    fwd = free_port()
    a, b = hosts_on_wire_and_user_net(workdir, hosts, fwd_b=fwd)
    before = free_pages(a)
    uri = f"nbd://10.0.2.2:{port}/disk"
    refusals = {
        "vm create x mem=128 kernel=vmlinuz disk=nbd://10.0.2.2/":
            'error: nbd: no export name in "nbd://10.0.2.2/"',
        "vm create x mem=128 kernel=vmlinuz disk=nbd://300.0.0.1/disk":
            'error: nbd: bad IPv4 address in "nbd://300.0.0.1/disk"',
        f"vm create x mem=128 kernel=vmlinuz disk=nbd://10.0.2.2:{port}/nope":
            'no such export "nope"',
        f"vm create x mem=128 kernel=vmlinuz disk=nbd://10.0.2.2:{free_port()}/disk":
            "connection refused",
    }
    assert_refused(a, refusals, before)

    out = a.command(f'vm create lin mem=128 cpus=2 kernel=vmlinuz initrd=initrd.img '
                    f'args="{GUEST_ARGS}" disk={uri}', timeout=120)
    assert out.strip() == "vm lin: ok", out
    assert a.command("vm start lin").strip() == "vm lin: ok"
    deadline = time.time() + 240
    while "ferry-init: up" not in (log := a.vm_output("lin", 2)):
        assert time.time() < deadline, log[-3000:]
    assert re.search(rf"virtio_blk virtio0: \[vda\] {SECTORS} 512-byte logical blocks", log), log
    try:
        run(a, "lin", "md5sum /dev/vda", [file_md5(path)], timeout=300)
    except AssertionError:
        print(a.command("log"), a.command("vm devices lin"))
        raise
    # 1 MiB written at 4 MiB and synced: it is in the server's file when the guest's fsync ends.
    run(a, "lin", "dd if=/dev/urandom of=/tmp/w bs=4096 count=256 2>/dev/null && "
        "dd if=/tmp/w of=/dev/vda bs=4096 seek=1024 conv=fsync 2>/dev/null", [], timeout=300)
    w = re.search(r"^([0-9a-f]{32})  /tmp/w$", run(a, "lin", "md5sum /tmp/w", []), re.M).group(1)
    assert file_md5(path, 4 << 20, 1 << 20) == w
    devs = a.command("vm devices lin").replace("\r", "")
    assert re.search(rf"virtio-blk#0 .*\n  pci 00:01\.0 .* {re.escape(uri)} sectors {SECTORS} "
                     r"reads \d+ writes \d+ flushes [1-9]\d* errors 0", devs), devs

    # Connections to b's migration port that never speak (from this machine, through b's user
    # networking: one peer, 10.0.2.2) hold no slot for long and refuse no migration: b takes
    # four from one address, closes them after 5 s without authentication, and the real
    # migration from a goes through meanwhile.
    silent = [socket.create_connection(("127.0.0.1", fwd), timeout=10) for _ in range(8)]
    # Moves to b: b opens the export itself (nothing of the disk is copied).
    assert a.command("migrate lin 10.0.0.2").startswith("migrate: started vm=lin")
    line = wait_result(a, timeout=600)
    print(f"\nguest on NBD: {line}")
    assert line.startswith("migrate: done vm=lin"), line
    assert "lin" not in names(a) and "lin" in names(b)
    for sock in silent:
        sock.settimeout(30)
        try:
            assert sock.recv(1) == b""
        except ConnectionResetError:
            pass
        sock.close()
    log = b.command("log")
    assert "from 10.0.2.2: no authentication within 5 s, closed" in log, log
    assert "incoming connection from 10.0.2.2 dropped: it has as many open as one host may" \
        in log, log
    # The migration ran over TLS: a authenticated as its host name.
    assert "TLS from 10.0.0.1 as node-a (TLS-ECDHE-PSK-WITH-CHACHA20-POLY1305-SHA256)" in log, log
    check_tls_port(b, fwd)
    run(b, "lin", "echo 3 > /proc/sys/vm/drop_caches; "
        "dd if=/dev/vda bs=4096 skip=1024 count=256 2>/dev/null | md5sum", [w], timeout=300)
    run(b, "lin", "md5sum /dev/vda", [file_md5(path)], timeout=300)
    assert a.command("vm destroy lin").startswith("error")
    assert free_pages(a) == before

    # A target that cannot reach the export (a's second NIC moved off the storage's network)
    # refuses before it reserves anything, with the reason; the guest runs on where it was.
    out = a.command("net ip eth1 10.0.3.15/24")
    assert not out.startswith("error"), out
    assert b.command("migrate lin 10.0.0.1").startswith("migrate: started vm=lin")
    line = wait_result(b, timeout=120)
    assert re.match(r"migrate: failed vm=lin phase=hello reason=target refused: disk "
                    rf"unreachable={re.escape(uri)}: ", line), line
    assert "lin" in names(b) and "lin" not in names(a)
    assert free_pages(a) == before
    run(b, "lin", "dd if=/dev/vda bs=4096 skip=1024 count=256 2>/dev/null | md5sum", [w],
        timeout=300)
