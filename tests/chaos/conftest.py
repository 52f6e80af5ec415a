"""conftest.py of `make chaos`: the integration tests' harness (gc_cluster,
cluster_helpers and their fixtures) with the chaos suite's own helpers.
Each chaos test prints its figures; the run's lines are repeated at the
end and written to build/chaos/report.txt (the chaos report)."""

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

_spec = importlib.util.spec_from_file_location("gc_integration_conftest",
                                               HERE.parent / "integration" / "conftest.py")
_shared = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shared)

cluster = _shared.cluster
gc_directory = _shared.gc_directory
pytest_runtest_makereport = _shared.pytest_runtest_makereport


def pytest_terminal_summary(terminalreporter):
    import gc_cluster
    _shared.pytest_terminal_summary(terminalreporter)
    out = HERE.parent.parent / "build" / "chaos"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "report.txt", "a") as f:
        for line in gc_cluster.SUMMARY:
            f.write(line + "\n")
