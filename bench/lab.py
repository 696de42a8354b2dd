"""The lab's run button: seconds from pressing Run to the charts on screen (issue 6: 3 s).

    python bench/lab.py [--runs N] [--behaviour] [--chromium PATH]

Starts ``carnet lab`` on a free localhost port, opens it in Debian's headless Chromium (through
Playwright), waits for the run that a new session opens on, then N times: nudges a slider,
presses Run, and times until every chart of the new run is on screen (the run's caption is
there, no element is still stale, and two frames have been painted). The scenario is the lab's
default: the ``rongcheng`` preset at 100,000 citizens x 365 days. Prints each time with the
server's own split (simulation, charts), their median, and exits 1 if the median exceeds 3 s.
``--behaviour`` ticks "Also count the acts deterred and chilled" first (a second simulation per
run, without responses); the 3 s target is for the default, without it.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

TARGET_SECONDS = 3.0
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SLIDER = "traffic_violation: seen by traffic_cameras"
#: Every chart of run ``n`` on the page, none stale, and two frames painted since.
CHARTS_SHOWN = """(n) => {
    const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
    const caption = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
        .some(e => e.textContent.startsWith('Run ' + n + ':'));
    const ready = caption && charts.length >= 9
        && charts.every(c => c.querySelector('.main-svg'))
        && document.querySelectorAll('[data-stale="true"]').length === 0;
    window.__painted = window.__painted || {};
    if (ready && !(n in window.__painted)) {
        window.__painted[n] = false;
        requestAnimationFrame(() => requestAnimationFrame(() => { window.__painted[n] = true; }));
    }
    return window.__painted[n] === true;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def carnet_exe() -> str:
    beside = Path(sys.executable).with_name("carnet")
    return str(beside) if beside.is_file() else "carnet"


def wait_healthy(url: str, server: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"carnet lab exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"carnet lab did not answer at {url} within {timeout:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--behaviour", action="store_true", help="count deterrence too")
    parser.add_argument(
        "--chromium", default=os.environ.get("CARNET_CHROMIUM", "/usr/bin/chromium")
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [carnet_exe(), "lab", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    times: list[float] = []
    try:
        wait_healthy(url, server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=BROWSER_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            start = time.perf_counter()
            page.goto(url)
            page.wait_for_function(CHARTS_SHOWN, arg=1, timeout=300_000, polling=20)
            print(f"page open, first run on screen: {time.perf_counter() - start:.2f} s")
            if args.behaviour:
                page.get_by_text("Also count the acts deterred and chilled").click()
                page.wait_for_timeout(1500)
            page.get_by_text("Detection and misattribution").click()
            slider = page.get_by_role("slider", name=SLIDER)
            for i in range(args.runs):
                slider.focus()
                page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
                page.wait_for_timeout(1500)  # the rerun that the slider caused is over
                start = time.perf_counter()
                page.get_by_role("button", name="Run", exact=True).click()
                page.wait_for_function(CHARTS_SHOWN, arg=i + 2, timeout=60_000, polling=10)
                seconds = time.perf_counter() - start
                times.append(seconds)
                caption = page.get_by_text(f"Run {i + 2}:").inner_text()
                split = re.search(r"simulated in .*", caption)
                print(f"run {i + 1}: {seconds:.2f} s (server: {split.group(0) if split else '?'})")
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    median = statistics.median(times)
    what = " (and again without responses)" if args.behaviour else ""
    print(
        f"pressing Run to the charts on screen, 100,000 citizens x 365 days{what}: median "
        f"{median:.2f} s, best {min(times):.2f} s, worst {max(times):.2f} s over {len(times)} runs"
    )
    if args.behaviour:
        print(f"(the {TARGET_SECONDS:.0f} s target is for runs without --behaviour)")
        return 0
    holds = median <= TARGET_SECONDS
    print(f"target <= {TARGET_SECONDS:.0f} s: {'holds' if holds else 'MISSED'}")
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
