"""Boot ferry in an emulator and talk to its serial console.

Every emulator is started in its own process group with a hard timeout; the
harness remembers the PID and kills exactly that group on stop(), which the
fixtures call also when a test fails. The serial console is a TCP socket
(QEMU: -serial tcp server with wait=on, so no output is lost; Bochs: com1
socket-server), read through pexpect's fdspawn.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pexpect
import pexpect.fdpexpect

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(TOP, "build")
PROMPT = "ferry> "
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE.fd"
OVMF_BOCHS = "/usr/share/ovmf/OVMF.fd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Migration options with a Bochs host at either end: its link carries a few hundred KiB/s of
# host time, where the default 300 ms budget would not even hold the vCPU state, and a
# 128 MiB Linux takes minutes of pre-copy (the default time limit is 300 s).
BOCHS_LINK = " downtime=5000 timeout=900"

class Host:
    """One emulated machine running ferry."""

    name = "host"

    def __init__(self, workdir, boot_timeout):
        self.workdir = workdir
        self.boot_timeout = boot_timeout
        self.proc = None
        self.sock = None
        self.con = None
        self.port = free_port()
        self.transcript = open(os.path.join(workdir, f"{self.name}-serial.log"), "w")

    # subclasses: argv() and optional prepare()
    def prepare(self):
        pass

    def start(self, stdin_data=None):
        self.prepare()
        self.proc = subprocess.Popen(
            self.argv(), cwd=self.workdir, stdin=subprocess.PIPE,
            stdout=open(os.path.join(self.workdir, f"{self.name}-stdout.log"), "w"),
            stderr=subprocess.STDOUT, start_new_session=True)
        if stdin_data:
            self.proc.stdin.write(stdin_data)
            self.proc.stdin.flush()
        self._connect()
        return self

    def _connect(self):
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: emulator exited with {self.proc.returncode}; "
                                   f"see {self.workdir}")
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        self.con = pexpect.fdpexpect.fdspawn(self.sock.fileno(), encoding="utf-8",
                                             codec_errors="replace", timeout=60)
        self.con.logfile_read = self.transcript

    def expect(self, pattern, timeout=60):
        self.con.expect(pattern, timeout=timeout)
        return self.con.match

    def wait_prompt(self):
        self.expect(re.escape(PROMPT), timeout=self.boot_timeout)

    def command(self, line, timeout=60):
        """Types a command, returns its output (without the echo and the next prompt)."""
        self.con.send(line + "\r")
        self.expect(re.escape(line) + r"\r?\n", timeout=timeout)
        self.expect(re.escape(PROMPT), timeout=timeout)
        return self.con.before.replace("\r", "")

    def vm_output(self, vm, seconds=2.0):
        """Everything the VM's UART printed so far (attach, wait, detach)."""
        self.con.send(f"vm console {vm}\r")
        self.expect(r"attached to " + re.escape(vm) + r"; Ctrl-\] detaches\r?\n")
        time.sleep(seconds)
        self.con.send("\x1d")
        self.expect(re.escape("[detached]"))
        out = self.con.before.replace("\r", "")
        self.expect(re.escape(PROMPT))
        # ferry starts "[detached]" on a new line: that newline is not the guest's.
        return out[:-1] if out.endswith("\n") else out

    def heartbeats(self, vm, seconds=2.0):
        """The VM's heartbeat lines as dicts (seq, vcpu, dirtied, check, tsc)."""
        beats = []
        out = self.vm_output(vm, seconds)
        # Only whole lines: the last one may still be being printed; after the UART ring
        # wrapped, the first one may be cut (ferry then says how many bytes were lost).
        out = out[:out.rfind("\n") + 1]
        lines = out.split("\n")
        for i, line in enumerate(lines):
            if re.fullmatch(r"\[\d+ bytes of output lost\]", line):
                lines = lines[i + 2:]       # the marker, then a line cut at its start
                break
        for m in re.finditer(r"^HB seq=(\d+) vcpu=(\d+) dirtied=(\d+) check=(\S+)(.*)$",
                             "\n".join(lines), re.M):
            tsc = re.search(r"tsc=(\d+)", m.group(5))
            beats.append({"seq": int(m.group(1)), "vcpu": int(m.group(2)),
                          "dirtied": int(m.group(3)), "check": m.group(4),
                          "tsc": int(tsc.group(1)) if tsc else None})
        return beats

    def wait_heartbeats(self, vm, vcpu, count, timeout=120):
        """Polls until vcpu has printed heartbeat number `count` (seq counts from 1, so this
        holds also after the UART ring dropped old lines); returns the heartbeats seen."""
        deadline = time.time() + timeout
        while True:
            beats = self.heartbeats(vm)
            if max([b["seq"] for b in beats if b["vcpu"] == vcpu], default=0) >= count:
                return beats
            if time.time() > deadline:
                raise AssertionError(f"{vm}: no heartbeat {count} from vcpu {vcpu} "
                                     f"in {timeout} s; last seen: {beats[-4:]}")

    def kill(self):
        """The machine dies at once (no shutdown, nothing more on its wire)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        deadline = time.time() + 10         # the emulator too, not just `timeout` above it
        while True:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            assert time.time() < deadline, f"{self.name}: still there after SIGKILL"
            time.sleep(0.05)
        self.sock.close()
        self.sock = None

    def restart(self):
        """Boots the same machine again (same disk, same wire) and waits for its prompt."""
        if self.proc.poll() is None:
            self.kill()
        self.start()
        self.wait_prompt()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        if self.sock:
            self.sock.close()
        self.transcript.close()


class QemuHost(Host):
    """QEMU TCG with -cpu max: AMD SVM with NPT."""

    name = "qemu"

    def __init__(self, workdir, smp=4, mem_mb=512, numa=None, esp=None, extra=(),
                 boot_timeout=120, cpu="max", name="qemu", boot=None):
        self.name = name
        super().__init__(workdir, boot_timeout)
        self.smp, self.mem_mb, self.numa, self.extra, self.cpu = smp, mem_mb, numa, extra, cpu
        self.esp = esp or os.path.join(BUILD, "esp")
        self.boot = boot    # arguments for what it boots from instead of the ESP directory

    def prepare(self):
        if self.boot:
            return
        # QEMU's fat: driver may write to the directory; boot a private copy.
        esp = os.path.join(self.workdir, f"esp-{self.name}-boot")
        if not os.path.exists(esp):
            shutil.copytree(self.esp, esp)
        self.esp = esp

    def argv(self):
        a = ["timeout", "-s", "KILL", "900", "qemu-system-x86_64", "-M", "q35",
             "-accel", "tcg", "-cpu", self.cpu, "-smp", str(self.smp), "-m", str(self.mem_mb),
             "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}"] + \
            (list(self.boot) if self.boot else ["-drive", f"format=raw,file=fat:rw:{self.esp}"]) + \
            ["-display", "none", "-monitor", "none", "-nodefaults", "-no-reboot",
             "-serial", f"tcp:127.0.0.1:{self.port},server=on,wait=on"]
        if self.numa:
            cpu = 0
            for i, (mb, ncpus) in enumerate(self.numa):
                a += ["-object", f"memory-backend-ram,id=m{i},size={mb}M",
                      "-numa", f"node,nodeid={i},cpus={cpu}-{cpu + ncpus - 1},memdev=m{i}"]
                cpu += ncpus
            for i in range(len(self.numa)):
                for j in range(len(self.numa)):
                    if i < j:
                        a += ["-numa", f"dist,src={i},dst={j},val=20"]
        return a + list(self.extra)


class BochsHost(Host):
    """Bochs 2.7: Intel VT-x with EPT (corei7_icelake_u)."""

    name = "bochs"

    def __init__(self, workdir, cpus=2, megs=512, model="corei7_icelake_u", boot_timeout=240,
                 images=None, name="bochs", config=(), e1000=None, ips=200000000):
        self.name = name
        # Emulated instructions per emulated second. Bochs's e1000 takes one received frame per
        # 1 ms of emulated time, so a host that must receive a lot (a migration target) runs
        # with fewer: its emulated clock, TSC included, then runs faster in wall time.
        self.ips = ips
        self.config = config            # extra ferry.cfg lines
        self.e1000 = e1000              # (mac, bxhub port base for this host) or None
        super().__init__(workdir, boot_timeout)
        self.cpus, self.megs, self.model = cpus, megs, model
        self.images = images or {}      # name -> bytes, put in \\images\\ on the boot disk

    def prepare(self):
        self.img = os.path.join(self.workdir, f"ferry-{self.name}.img")
        shutil.copyfile(os.path.join(BUILD, "ferry.img"), self.img)
        for stale in (self.img + ".lock",):
            if os.path.exists(stale):
                os.unlink(stale)
        if self.config:
            cfg = os.path.join(self.workdir, f"ferry-{self.name}.cfg")
            with open(os.path.join(BUILD, "esp", "ferry.cfg")) as f:
                base = f.read()
            with open(cfg, "w") as f:
                f.write(base + "\n".join(self.config) + "\n")
            subprocess.run(["mcopy", "-o", "-i", self.img, cfg, "::/ferry.cfg"], check=True)
        if self.images:
            subprocess.run(["mmd", "-i", self.img, "::/images"], check=True)
            for name, data in self.images.items():
                path = os.path.join(self.workdir, name)
                with open(path, "wb") as f:
                    f.write(data)
                subprocess.run(["mcopy", "-i", self.img, path, "::/images/" + name], check=True)
        self.rc = os.path.join(self.workdir, f"bochsrc-{self.name}")
        nic = ""
        if self.e1000:
            nic = f"e1000: enabled=1, mac={self.e1000[0]}, ethmod=socket, ethdev={self.e1000[1]}\n"
        with open(self.rc, "w") as f:
            f.write(f"""megs: {self.megs}
cpu: model={self.model}, count={self.cpus}, ips={self.ips}
romimage: file={OVMF_BOCHS}, address=0xffe00000
vgaromimage: file=/usr/share/vgabios/vgabios.bin
display_library: rfb, options="timeout=0"
ata0-master: type=disk, path={self.img}, mode=flat
boot: disk
com1: enabled=1, mode=socket-server, dev=127.0.0.1:{self.port}
log: {self.workdir}/{self.name}.log
info: action=ignore
panic: action=fatal
error: action=report
pci: enabled=1, chipset=i440fx
speaker: enabled=0
sound: driver=dummy
{nic}""")

    def argv(self):
        # The debugger is compiled in: "c" on stdin lets it run.
        return ["timeout", "-s", "KILL", "900", "bochs", "-q", "-f", self.rc]

    def start(self, stdin_data=b"c\n"):
        return super().start(stdin_data)

    def stop(self):
        super().stop()
        lock = getattr(self, "img", "") + ".lock"
        if os.path.exists(lock):
            os.unlink(lock)
