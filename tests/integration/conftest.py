"""conftest.py — fixtures for the gridcall integration tests.

`cluster` is a factory: each call starts a private redis-server, loads the
street directory with `gridcall directory load` and starts the daemons
asked for, every endpoint an ipc:// path in a temporary folder. Each test
gets fresh clusters (counts in Redis are asserted exactly, so tests must
not share them); all their processes are killed when the test ends, also
on failure. When a test fails, the tails of the daemons' logs are attached
to its report and the folder is kept.
"""

import pytest

import gc_cluster
from gc_cluster import Cluster, Directory

_reports = pytest.StashKey()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    item.stash.setdefault(_reports, {})[report.when] = report
    if report.failed and report.when in ("setup", "call") and gc_cluster.LIVE_CLUSTERS:
        for c in gc_cluster.LIVE_CLUSTERS:
            report.sections.append((f"gridcall logs ({c.name}, kept in {c.folder})",
                                    c.log_tails()))


def pytest_terminal_summary(terminalreporter):
    for line in gc_cluster.SUMMARY:
        terminalreporter.write_line(line)


def _failed(request):
    reports = request.node.stash.get(_reports, {})
    return any(r.failed for r in reports.values())


@pytest.fixture(scope="session")
def gc_directory():
    """The street directory the clusters load (deploy/tianjiao/directory.json)."""
    return Directory()


@pytest.fixture
def cluster(request):
    """Factory: cluster("intake", "dispatch", time_scale=1, dispatch={...})
    starts Redis, loads the directory and starts the daemons named, in that
    order, each with its overrides (unit_sim= for gridcall-unit-sim)."""
    made = []

    def make(*daemons, time_scale=1, load_directory=True, log_level="info", **overrides):
        c = Cluster(time_scale=time_scale, log_level=log_level,
                    name=f"{request.node.name}#{len(made) + 1}")
        made.append(c)
        if load_directory:
            c.load_directory()
        for name in daemons:
            c.start(name, **overrides.get(name.replace("-", "_"), {}))
        return c

    yield make
    failed = _failed(request)
    crashed, logs = [], []
    for c in made:
        dead = [(d.name, d.proc.returncode) for d in c.crashed()]
        if dead:
            crashed += dead
            logs.append(c.log_tails())
        c.close(keep=failed or bool(dead))
        if failed:
            print(f"\n{c.name}: logs kept in {c.folder}")
    if crashed and not failed:
        pytest.fail("daemon(s) died during the test: "
                    + ", ".join(f"{n} (exit {rc})" for n, rc in crashed)
                    + "\n" + "\n".join(logs), pytrace=False)
