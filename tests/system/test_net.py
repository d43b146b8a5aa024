"""The host network stack: PCI, the e1000 and virtio-net drivers, lwIP, ping and TCP
throughput between two ferry hosts on one Ethernet segment (QEMU socket netdev)."""
import os
import re
import shutil

import pytest

from ferryhost import BUILD, QemuHost, free_port


def esp_with_config(workdir, name, lines, images=()):
    """A copy of the boot volume with more ferry.cfg lines and files (paths) in \\images\\."""
    esp = os.path.join(workdir, f"esp-{name}")
    shutil.copytree(os.path.join(BUILD, "esp"), esp)
    with open(os.path.join(esp, "ferry.cfg"), "a") as f:
        f.write("\n".join(lines) + "\n")
    if images:
        os.makedirs(os.path.join(esp, "images"), exist_ok=True)
        for path in images:
            shutil.copy(path, os.path.join(esp, "images", os.path.basename(path)))
    return esp


def iface(h, name="eth0"):
    out = h.command("net")
    m = re.search(rf"^{name}: driver (\S+) mac (\S+) link (\S+) ip (\S+) mask (\S+) gw (\S+)$",
                  out, re.M)
    assert m, out
    return {"driver": m.group(1), "mac": m.group(2), "link": m.group(3), "ip": m.group(4),
            "mask": m.group(5), "gw": m.group(6)}


def wait_link(h, name="eth0", timeout=20):
    """QEMU's e1000 finishes autonegotiation ~0.5 s after the driver asks (longer under
    load), so the link may come up just after the prompt: poll for it."""
    import time
    deadline = time.time() + timeout
    while True:
        i = iface(h, name)
        if i["link"] == "up" or time.time() > deadline:
            return i
        time.sleep(0.5)


def ping(h, addr, count=3):
    out = h.command(f"ping {addr} {count}", timeout=60)
    m = re.search(r"^ping: sent=(\d+) received=(\d+) loss=(\d+)%", out, re.M)
    assert m, out
    return int(m.group(1)), int(m.group(2)), out


def two_hosts(workdir, hosts, dev_a, dev_b, cfg_a=(), cfg_b=(), mem_a=256, mem_b=256,
              qemu_a=None, qemu_b=None, images_a=(), via=None):
    """Hosts a (10.0.0.1) and b (10.0.0.2) on one segment through a QEMU socket netdev;
    qemu_a / qemu_b: more QemuHost arguments (cpu=, numa=, smp=); images_a: files for a's
    \\images\\; via(port of a's end): the port b connects to instead (a man in the middle,
    tests/system/wire.py)."""
    port = free_port()
    port_b = via(port) if via else port
    a = QemuHost(workdir, **{"smp": 2, "mem_mb": mem_a, "name": "a", **(qemu_a or {})},
                 esp=esp_with_config(workdir, "a", ["ip=10.0.0.1/24", *cfg_a], images_a),
                 extra=["-netdev", f"socket,id=n0,listen=127.0.0.1:{port}",
                        "-device", f"{dev_a},netdev=n0,mac=52:54:00:00:00:01"])
    b = QemuHost(workdir, **{"smp": 2, "mem_mb": mem_b, "name": "b", **(qemu_b or {})},
                 esp=esp_with_config(workdir, "b", ["ip=10.0.0.2/24", *cfg_b]),
                 extra=["-netdev", f"socket,id=n0,connect=127.0.0.1:{port_b}",
                        "-device", f"{dev_b},netdev=n0,mac=52:54:00:00:00:02"])
    hosts.extend([a, b])
    a.start()
    b.start()
    a.wait_prompt()
    b.wait_prompt()
    return a, b


def test_e1000_and_virtio_hosts_ping_and_bench(workdir, hosts):
    a, b = two_hosts(workdir, hosts, "e1000", "virtio-net-pci")
    ia, ib = wait_link(a), wait_link(b)
    assert (ia["driver"], ia["mac"], ia["ip"], ia["mask"]) == \
        ("e1000", "52:54:00:00:00:01", "10.0.0.1", "255.255.255.0")
    assert (ib["driver"], ib["mac"], ib["ip"]) == ("virtio-net", "52:54:00:00:00:02", "10.0.0.2")
    assert ia["link"] == ib["link"] == "up"
    assert re.search(r"8086:100e class 0200 e1000", a.command("pci"))
    assert re.search(r"1af4:10(00|41) class 0200 virtio-net", b.command("pci"))

    sent, received, out = ping(a, "10.0.0.2", 3)
    assert (sent, received) == (3, 3), out
    assert re.search(r"^reply seq=1 bytes=64 ttl=\d+ time=", out, re.M), out
    sent, received, out = ping(b, "10.0.0.1", 3)
    assert (sent, received) == (3, 3), out
    # Nobody has 10.0.0.9: every request times out and the summary says so.
    sent, received, out = ping(a, "10.0.0.9", 2)
    assert (sent, received) == (2, 0) and "loss=100%" in out, out

    out = a.command("net bench 10.0.0.2 3", timeout=60)
    m = re.search(r"^bench: mbps=(\d+)\.(\d) bytes=(\d+) seconds=(\d+)\.(\d+) streams=4$", out,
                  re.M)
    assert m, out
    assert int(m.group(3)) > 100000, out          # data really moved
    print(f"\nnet bench e1000 -> virtio-net under QEMU TCG: {m.group(0)}")
    out = a.command("net bench 10.0.0.2 1 streams=1", timeout=60)
    m = re.search(r"^bench: mbps=[\d.]+ bytes=(\d+) seconds=[\d.]+ streams=1$", out, re.M)
    assert m and int(m.group(1)) > 10000, out
    assert "error: streams must be 1-8" in a.command("net bench 10.0.0.2 1 streams=9")
    out = b.command("net")
    rx = int(re.search(r"rx packets (\d+) bytes (\d+)", out).group(2))
    assert rx > 0
    # The sender told its NIC of new frames (e1000's tail write, a trap) about once per batch
    # of segments lwIP queued in one poll pass, not once per frame.
    out = a.command("net")
    m = re.search(r"tx packets (\d+) bytes \d+ errors 0, doorbells (\d+)", out)
    assert m and int(m.group(1)) > 1000 and int(m.group(2)) * 4 < int(m.group(1)), out
    print(f"e1000 sender: {m.group(1)} frames, {m.group(2)} tail writes")

    # Nothing listens on 10.0.0.9: refused or unanswered, never a hang or a crash.
    out = a.command("net bench 10.0.0.9 1", timeout=60)
    assert re.search(r"^bench: failed reason=", out, re.M), out


def test_runtime_address_and_bad_input(workdir, hosts):
    a, b = two_hosts(workdir, hosts, "virtio-net-pci", "virtio-net-pci")
    out = b.command("net ip eth0 10.0.1.2/24")
    assert "ip 10.0.1.2 mask 255.255.255.0" in out, out
    a.command("net ip eth0 10.0.1.1/24 gw 10.0.1.254")
    assert iface(a)["gw"] == "10.0.1.254"
    assert ping(a, "10.0.1.2", 2)[1] == 2
    assert "error: no interface 'eth7'" in a.command("net ip eth7 10.0.0.1/24")
    assert "error: bad address '10.0.0.300/24'" in a.command("net ip eth0 10.0.0.300/24")
    assert "error: bad address '10.0.0.1/33'" in a.command("net ip eth0 10.0.0.1/33")
    assert "error: 'nonsense' is not an IPv4 address" in a.command("ping nonsense")
    assert "usage: net" in a.command("net frobnicate")
    assert iface(a)["ip"] == "10.0.1.1"          # bad commands changed nothing


def test_dhcp_on_qemu_user_networking(workdir, hosts):
    h = QemuHost(workdir, smp=2, mem_mb=256,
                 esp=esp_with_config(workdir, "d", ["ip=dhcp"]),
                 extra=["-netdev", "user,id=n0", "-device", "e1000,netdev=n0"])
    hosts.append(h)
    h.start().wait_prompt()
    import time
    deadline = time.time() + 60
    while iface(h)["ip"] == "0.0.0.0":
        assert time.time() < deadline, h.command("log")
        time.sleep(1)
    i = iface(h)
    assert i["ip"].startswith("10.0.2.") and i["gw"] == "10.0.2.2", i


@pytest.fixture
def bxhub(workdir):
    """Bochs' virtual Ethernet hub: port i talks to UDP base+2i (to the host) and base+2i+1."""
    import signal
    import subprocess
    import time
    base = free_port() & ~1
    proc = subprocess.Popen(["timeout", "-s", "KILL", "900", "bxhub", "-ports=3", f"-base={base}",
                             "-logfile=" + os.path.join(workdir, "bxhub.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    time.sleep(0.5)
    yield base
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=5)


def test_bochs_e1000_hosts_ping_through_bxhub(workdir, hosts, bxhub):
    from ferryhost import BochsHost
    a = BochsHost(workdir, name="ba", config=["ip=10.0.3.1/24"],
                  e1000=("b0:c4:20:00:00:01", bxhub))
    b = BochsHost(workdir, name="bb", config=["ip=10.0.3.2/24"],
                  e1000=("b0:c4:20:00:00:02", bxhub + 2))
    hosts.extend([a, b])
    a.start()
    b.start()
    a.wait_prompt()
    b.wait_prompt()
    assert iface(a)["driver"] == "e1000" and iface(a)["ip"] == "10.0.3.1"
    # bxhub forwards unicast only to MACs it has learned from a broadcast: the ARP
    # request of the first ping teaches it.
    sent, received, out = ping(a, "10.0.3.2", 3)
    assert received >= 2, out
    sent, received, out = ping(b, "10.0.3.1", 3)
    assert received == 3, out


def qemu_on_bxhub(workdir, name, cfg, bxhub_port, mac, images=(), mem_mb=256):
    """A QEMU host whose virtio-net joins bxhub's second port through a dgram netdev."""
    return QemuHost(workdir, smp=2, mem_mb=mem_mb, name=name,
                    esp=esp_with_config(workdir, name, cfg, images),
                    extra=["-netdev", f"dgram,id=n0,local.type=inet,local.host=127.0.0.1,"
                           f"local.port={bxhub_port + 2},remote.type=inet,remote.host=127.0.0.1,"
                           f"remote.port={bxhub_port + 3}",
                           "-device", f"virtio-net-pci,netdev=n0,mac={mac}"])


def test_vtx_host_and_amdv_host_share_a_segment(workdir, hosts, bxhub):
    from ferryhost import BochsHost
    a = BochsHost(workdir, name="vmx", config=["ip=10.0.4.1/24"],
                  e1000=("b0:c4:20:00:00:03", bxhub))
    q = qemu_on_bxhub(workdir, "svm", ["ip=10.0.4.2/24"], bxhub, "52:54:00:00:00:04")
    hosts.extend([a, q])
    a.start()
    q.start()
    a.wait_prompt()
    q.wait_prompt()
    assert "virt: vmx" in a.command("host") and "virt: svm" in q.command("host")
    sent, received, out = ping(q, "10.0.4.1", 3)
    assert received >= 2, out
    sent, received, out = ping(a, "10.0.4.2", 3)
    assert received == 3, out
