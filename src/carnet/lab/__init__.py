"""The lab: an interactive page (Streamlit) to turn a scenario's knobs and watch who is punished.

``carnet lab`` starts it (:func:`command` builds the command line). Its parts are plain modules:
:mod:`carnet.lab.knobs` (the knobs, generated from the scenario's schema), :mod:`carnet.lab.session`
(running, auditing, comparing, dossiers), :mod:`carnet.lab.widgets` (the knobs as Streamlit
widgets) and :mod:`carnet.lab.app` (the page). Only the last two import Streamlit, which the
``lab`` extra installs: ``pip install 'carnet[lab]'``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from carnet.scenario.loading import MAX_SCENARIO_BYTES

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501
#: Streamlit's upload limit, in its megabytes (2**20 bytes): a larger file is never even sent.
UPLOAD_MB = max(1, math.ceil(MAX_SCENARIO_BYTES / 2**20))


def app_path() -> Path:
    """The page's file, which Streamlit runs."""
    return Path(__file__).with_name("app.py")


def command(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> list[str]:
    """The command line that serves the lab on ``host:port``.

    Headless (no browser opened), without usage statistics, without a file watcher, and with
    uploads limited to the size of a scenario file, so that a larger one is never even sent.
    """
    return [
        sys.executable, "-m", "streamlit", "run", str(app_path()),
        "--server.port", str(port),
        "--server.address", host,
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--server.maxUploadSize", str(UPLOAD_MB),
        "--server.showEmailPrompt", "false",
        "--client.toolbarMode", "minimal",
    ]  # fmt: skip


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve the lab on ``host:port`` until interrupted: this process becomes Streamlit's.

    Raises:
        CarnetError: if Streamlit is not installed.
    """
    import importlib.util
    import os
    import subprocess

    from carnet.errors import CarnetError

    if importlib.util.find_spec("streamlit") is None:
        raise CarnetError("carnet lab needs Streamlit: pip install 'carnet[lab]'")
    args = command(host, port)
    shown = f"[{host}]" if ":" in host else host
    print(f"carnet lab: http://{shown}:{port} (Ctrl-C stops it)", flush=True)
    if os.name == "posix":  # the server takes this process's place: one process to stop
        os.execv(args[0], args)
    raise SystemExit(subprocess.call(args))
