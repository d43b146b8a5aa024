"""tools/check-layers.py: passes on the tree, fails on every kind of back edge fed to it."""
import os
import shutil
import subprocess
import sys

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECK = os.path.join(TOP, "tools", "check-layers.py")


def run(root):
    p = subprocess.run([sys.executable, CHECK, root], capture_output=True, text=True)
    return p.returncode, p.stdout


@pytest.fixture
def tree(tmp_path):
    """A copy of the project's sources (the directories the checker reads)."""
    for d in ("boot", "hv", "arch", "drivers", "net"):
        shutil.copytree(os.path.join(TOP, d), tmp_path / d)
    return tmp_path


def inject(tree, path, header):
    p = tree / path
    p.write_text(f'#include "{header}"\n' + p.read_text())


def test_the_tree_keeps_the_rules():
    rc, out = run(TOP)
    assert rc == 0, out
    assert "check-layers: ok" in out


@pytest.mark.parametrize("src,header,edge", [
    ("hv/base/log.c", "hv/vm/vm.h", "base may not include hv/vm/vm.h (vm)"),
    ("hv/base/log.c", "arch/x86_64/cpu.h", "base may not include arch/x86_64/cpu.h (arch)"),
    ("arch/x86_64/mmu.c", "hv/vm/vm.h", "arch may not include hv/vm/vm.h (vm)"),
    ("drivers/pci.c", "net/net.h", "drivers may not include net/net.h (net)"),
    ("net/net.c", "hv/mig/mig.h", "net may not include hv/mig/mig.h (mig)"),
    ("hv/vm/vm.c", "hv/mig/mig.h", "vm may not include hv/mig/mig.h (mig)"),
    ("hv/vm/vm.c", "arch/x86_64/vmx/vmx.h", "vm may not include arch/x86_64/vmx/vmx.h (backend)"),
    ("hv/dev/vuart.c", "hv/vm/vm.h", "dev may not include hv/vm/vm.h (vm)"),
    ("hv/mig/mig.c", "hv/console/console.h", "mig may not include hv/console/console.h"),
    ("hv/console/console.c", "arch/x86_64/vmx/vmx.h", "console may not include arch/x86_64/vmx/vmx.h"),
    ("boot/efi_main.c", "hv/base/log.h", "boot may not include hv/base/log.h (base)"),
    ("hv/base/mem.h", "boot/loader.h", "base may not include boot/loader.h (boot)"),
])
def test_an_injected_back_edge_fails(tree, src, header, edge):
    inject(tree, src, header)
    rc, out = run(str(tree))
    assert rc == 1, out
    assert f"{src}:1: {edge}" in out


def test_a_relative_include_is_resolved(tree):
    (tree / "hv" / "base" / "bad.c").write_text('#include "../vm/vm.h"\n')
    rc, out = run(str(tree))
    assert rc == 1
    assert "hv/base/bad.c:1: base may not include hv/vm/vm.h (vm)" in out


def test_a_file_no_layer_claims_fails(tree):
    (tree / "hv" / "stray.c").write_text("int x;\n")
    rc, out = run(str(tree))
    assert rc == 2
    assert "hv/stray.c: no layer claims this file" in out


def test_the_boot_contract_and_third_party_headers_are_allowed(tree):
    inject(tree, "hv/base/log.c", "boot/boot_info.h")
    inject(tree, "net/net.c", "lwip/tcp.h")
    rc, out = run(str(tree))
    assert rc == 0, out
