"""Boot ferry in QEMU (AMD SVM) and Bochs (Intel VT-x) and check what `host` reports
against the emulator's configuration, plus the console's behaviour."""
import os
import re
import shutil

import pytest

from ferryhost import BUILD, BochsHost, QemuHost


def parse_host(out):
    info = {"nodes": {}}
    for line in out.splitlines():
        m = re.match(r"node (\d+): cpus (\S+) mem (\d+) MiB free (\d+) MiB$", line)
        if m:
            info["nodes"][int(m.group(1))] = {
                "cpus": m.group(2), "mem": int(m.group(3)), "free": int(m.group(4))}
            continue
        m = re.match(r"([a-z ]+): (.*)$", line)
        if m:
            info[m.group(1)] = m.group(2)
    return info


def check_node(node, cpus, mem_mb):
    assert node["cpus"] == cpus
    # Firmware keeps the legacy 640K-1M hole out of the map: allow 1 MiB.
    assert abs(node["mem"] - mem_mb) <= 1, node
    assert 0 < node["free"] <= node["mem"], node


def test_qemu_svm_two_numa_nodes(workdir, hosts):
    h = QemuHost(workdir, smp=4, numa=[(256, 2), (256, 2)])
    hosts.append(h)
    h.start().wait_prompt()
    info = parse_host(h.command("host"))
    assert info["cpu vendor"] == "AuthenticAMD"
    assert info["cpus"] == "4 online (apic 0 1 2 3)"
    assert info["numa nodes"] == "2"
    check_node(info["nodes"][0], "0-1", 256)
    check_node(info["nodes"][1], "2-3", 256)
    # QEMU TCG offers SVM with NPT and 16 ASIDs, but no NRIPS and no decode assists.
    assert info["virt"] == "svm npt asid"
    assert info["cpu source"].startswith("acpi madt")
    assert "SRAT" in info["acpi"] and "SLIT" in info["acpi"] and "bad 0" in info["acpi"]
    assert info["distances"] == "node 0: 10 20 node 1: 20 10"

    mem = h.command("mem")
    assert re.search(r"^node 1: ram 256 MiB", mem, re.M), mem
    assert re.search(r"zone \d+: node 1 0x0010000000-", mem), mem
    log = h.command("log")
    assert "smp: 4 of 4 cpus online (acpi madt)" in log
    assert "calibrated against acpi pm timer" in log


def test_qemu_one_node_console(workdir, hosts):
    h = QemuHost(workdir, smp=2, mem_mb=512)
    hosts.append(h)
    h.start().wait_prompt()
    info = parse_host(h.command("host"))
    assert info["cpus"] == "2 online (apic 0 1)"
    assert info["numa nodes"] == "1"
    check_node(info["nodes"][0], "0-1", 512)
    assert info["hostname"] == "ferry"

    assert re.match(r"ferry \d+\.\d+\.\d+ \(git [0-9a-f]+\)", h.command("version").strip())
    help_out = h.command("help")
    for cmd in ("help", "version", "host", "mem", "log", "reboot"):
        assert re.search(rf"^\s+{cmd}\s", help_out, re.M), help_out
    assert "error: unknown command 'frobnicate'" in h.command("frobnicate now")
    assert h.command("host extra").strip() == "usage: host [numa-spanning on|off]"
    assert "usage: host" in h.command("host numa-spanning maybe")
    assert "error: unterminated quote" in h.command('help "host')
    # Backspace editing: "hoxx" + two backspaces + "st" is "host".
    h.con.send("hoxx\x7f\x7fst\r")
    h.expect(r"numa nodes: 1")
    h.expect(re.escape("ferry> "))
    # Ctrl-C drops a half-typed line.
    h.con.send("reboot\x03")
    h.expect(re.escape("^C"))
    # History: Up twice recalls `host` (the line before `version`), Enter runs it again;
    # Down past the newest brings back what was being typed.
    h.command("version")
    h.con.send("\x1b[A\x1b[A\r")
    h.expect(r"numa nodes: 1")
    h.expect(re.escape("ferry> "))
    h.con.send("vers\x1b[A\x1b[B")
    assert "ferry " in h.command("ion").splitlines()[-1]
    # help COMMAND: usage, what it does, examples that are lines of it.
    out = h.command("help migrate")
    assert out.startswith("usage: migrate VM ADDR"), out
    ex = out.split("examples:\n", 1)[1].splitlines()
    assert ex and all(e.strip().startswith("migrate") for e in ex), out
    assert "usage: mem [map]" in h.command("mem bogus")
    assert re.search(r"usable", h.command("mem map"))


def test_qemu_config_errors_are_reported_not_fatal(workdir, hosts):
    esp = os.path.join(workdir, "esp")
    shutil.copytree(os.path.join(BUILD, "esp"), esp)
    with open(os.path.join(esp, "ferry.cfg"), "w") as f:
        f.write("# test config\nhostname=rack7-node3\nfrobnicate=yes\nlog_level=loud\n"
                "no equals sign here\nserial_baud=115200\n")
    h = QemuHost(workdir, smp=1, mem_mb=256, esp=esp)
    hosts.append(h)
    h.start()
    h.expect(r"line 3: unknown key 'frobnicate', ignored")
    h.expect(r"line 4: bad value 'loud' for log_level")
    h.expect(r"line 5: expected key=value, ignored")
    h.wait_prompt()
    info = parse_host(h.command("host"))
    assert info["hostname"] == "rack7-node3"
    assert info["cpus"] == "1 online (apic 0)"
    assert "ferry.cfg read (" in h.command("log")


def test_qemu_reboot_resets_the_machine(workdir, hosts):
    h = QemuHost(workdir, smp=1, mem_mb=256)
    hosts.append(h)
    h.start().wait_prompt()
    h.con.send("reboot\r")
    h.expect("rebooting")
    # -no-reboot: QEMU exits when the guest resets.
    h.proc.wait(timeout=60)


def test_bochs_vmx_host(workdir, hosts):
    h = BochsHost(workdir, cpus=2, megs=512)
    hosts.append(h)
    h.start().wait_prompt()
    info = parse_host(h.command("host"))
    assert info["cpu vendor"] == "GenuineIntel"
    assert info["cpus"] == "2 online (apic 0 1)"
    assert info["numa nodes"] == "1"
    check_node(info["nodes"][0], "0-1", 512)
    assert info["virt"] == "vmx ept vpid ug pml ad preempt"
    # Bochs + OVMF have no ACPI: CPUs come from EFI MP services.
    assert info["cpu source"].startswith("efi mp services")
    assert info["acpi"] == "none"
    assert info["tsc"].endswith("(pit)")
