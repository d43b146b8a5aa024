import os
import shutil
import tempfile

import pytest

from ferryhost import BUILD, BochsHost, QemuHost


@pytest.fixture
def workdir(request):
    d = tempfile.mkdtemp(prefix=f"ferry-{request.node.name[:40]}-")
    yield d
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(f"\nemulator logs kept in {d}")
    else:
        shutil.rmtree(d, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def hosts():
    """Start hosts through this list; every one is stopped (by PID) however the test ends."""
    started = []
    yield started
    for h in started:
        h.stop()


def pytest_sessionstart(session):
    if not os.path.exists(os.path.join(BUILD, "ferry.img")):
        raise pytest.UsageError("build/ferry.img missing: run `make` first")
