"""The memory a run is predicted to need, against the peak it really reaches."""

from __future__ import annotations

import subprocess
import sys

import pytest

from carnet.runs.memory import predict_bytes
from carnet.scenario.loading import load_scenario

pytestmark = pytest.mark.alone  # peaks of memory, and runs of millions: nothing beside them

# The peak resident memory of the process itself: VmHWM starts afresh with the new program,
# while ru_maxrss would keep the larger peak of the test process that started it (Linux keeps
# it across exec).
PEAK = (
    "import carnet; carnet.simulate({name!r}, population={n}); "
    "print(next(line.split()[1] for line in open('/proc/self/status') "
    "if line.startswith('VmHWM:')))"
)


@pytest.fixture(scope="module", autouse=True)
def compiled_kernels() -> None:
    """Fill numba's cache first: compiling the kernels takes memory that a run does not."""
    for name in ("minimal", "rongcheng-gated"):
        code = f"import carnet; carnet.simulate({name!r}, population=2000, days=3)"
        subprocess.run([sys.executable, "-c", code], check=True, timeout=600)


@pytest.mark.parametrize(
    ("name", "n"),
    [
        ("minimal", 300_000),  # every citizen in the panel
        ("minimal", 1_000_000),
        ("minimal", 3_000_000),  # a sampled panel
        ("rongcheng-gated", 200_000),  # lists, gates, decisions, appeals, denunciations
    ],
)
def test_prediction_is_within_15_percent_of_the_peak(name: str, n: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PEAK.format(name=name, n=n)],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    peak = int(done.stdout.split()[-1]) * 1024  # VmHWM is in kB
    predicted = predict_bytes(load_scenario(name, population=n))
    print(f"{name} {n:,}: predicted {predicted >> 20} MiB, peak {peak >> 20} MiB")
    assert abs(predicted - peak) <= 0.15 * peak
