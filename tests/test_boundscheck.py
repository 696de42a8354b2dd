"""The core tests again with numba's bounds checks on: no kernel reads or writes off an array.

``NUMBA_BOUNDSCHECK=1`` compiles every array access of every kernel with a check that raises
IndexError; the kernels are compiled afresh, into a cache of their own (``NUMBA_CACHE_DIR`` in a
temporary folder), so the checked code never reaches the ordinary cache. The statistical and
identity tests of small scenarios run in a pytest of their own, one process, with that
environment (the command-line tests among them start ``carnet`` with it too).

About a minute and a half on one core; ``-m "not boundscheck"`` leaves it out.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.boundscheck

TESTS = Path(__file__).resolve().parent

#: Small scenarios through every phase: splits and resumes, the baseline's presets, rules and
#: expiry, the statistical laws, lists and gates, companies, lending, responses, appeals and
#: denunciations.
CORE = [
    "test_identity.py",
    "test_baseline.py",
    "test_rules.py",
    "test_expiry.py",
    "test_statistics.py",
    "test_lists_gates.py",
    "test_companies.py",
    "test_lending.py",
    "test_respond.py",
    "test_appeals.py",
    "test_denunciations.py",
]

#: Before the tests: a kernel made by carnet's own decorator must check its bounds, or this
#: whole run would prove nothing.
CANARY = """
import numpy as np
from carnet.sim.jit import kernel

@kernel()
def read(a, i):
    return a[i]

try:
    read(np.zeros(3), 5)
except IndexError:
    pass
else:
    raise SystemExit("NUMBA_BOUNDSCHECK=1 did not check carnet's kernels")
"""


def test_core_tests_pass_with_bounds_checked_kernels(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "NUMBA_BOUNDSCHECK": "1",
        "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache"),
        "COLUMNS": "200",
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_ADDOPTS", None)
    canary = subprocess.run([sys.executable, "-c", CANARY], env=env, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert canary.returncode == 0, canary.stdout + canary.stderr
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "-q", "-x",
         "--tb=short", "-m", "not slow and not alone and not boundscheck", "-k", "not dask",
         "--basetemp", str(tmp_path / "basetemp"), *[str(TESTS / name) for name in CORE]],
        cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    output = done.stdout + done.stderr
    tail = output[-6000:]
    off = [line for line in output.splitlines() if "IndexError" in line]
    assert not off, f"a kernel went off an array: {off[-1]}\n{tail}"
    assert done.returncode == 0, f"the bounds-checked core tests failed:\n{tail}"
    assert " passed" in output, tail
