"""The lab: an interactive page (Streamlit) to turn a scenario's knobs and watch who is punished.

``carnet lab`` starts it (:func:`command` builds the command line). Its parts are plain modules:
:mod:`carnet.lab.knobs` (the knobs, generated from the scenario's schema), :mod:`carnet.lab.session`
(running, auditing, comparing, dossiers), :mod:`carnet.lab.widgets` (the knobs as Streamlit
widgets) and :mod:`carnet.lab.app` (the page). Only the last two import Streamlit, which the
``lab`` extra installs: ``pip install 'carnet[lab]'``.

The lab has no login: whoever reaches its port can run simulations on this machine. It listens
on this machine alone unless told otherwise (:func:`is_loopback`); served elsewhere, or with
``token``, it asks every new page for a random token in its address (:data:`TOKEN_ENV` carries it
to the page, which checks it before it draws anything).
"""

from __future__ import annotations

import ipaddress
import math
import sys
from pathlib import Path

from carnet.scenario.loading import MAX_SCENARIO_BYTES

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501
#: Streamlit's upload limit, in its megabytes (2**20 bytes): a larger file is never even sent.
UPLOAD_MB = max(1, math.ceil(MAX_SCENARIO_BYTES / 2**20))
#: The environment variable that hands the page the token its address must carry (``?token=``).
TOKEN_ENV = "CARNET_LAB_TOKEN"
#: The query parameter of the lab's address that carries the token.
TOKEN_PARAM = "token"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine alone: ``localhost``, 127.0.0.0/8 or ``::1``."""
    if host.strip().lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:  # a name (it could mean anything) or no address at all
        return False


def url(host: str, port: int, token: str | None = None) -> str:
    """The lab's address, with its token if it has one."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?{TOKEN_PARAM}={token}" if token else "")


def app_path() -> Path:
    """The page's file, which Streamlit runs."""
    return Path(__file__).with_name("app.py")


def command(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, welcome: bool = True) -> list[str]:
    """The command line that serves the lab on ``host:port``.

    Headless (no browser opened), without usage statistics, without a file watcher, and with
    uploads limited to the size of a scenario file, so that a larger one is never even sent.
    Without ``welcome``, Streamlit does not print its own addresses (which lack a token).
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
        "--logger.hideWelcomeMessage", "false" if welcome else "true",
    ]  # fmt: skip


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, token: str | None = None) -> None:
    """Serve the lab on ``host:port`` until interrupted: this process becomes Streamlit's.

    With ``token``, every new page must carry it in its address (``?token=...``) or is refused
    before it draws anything. The address is printed first, token included.

    Raises:
        CarnetError: if Streamlit is not installed.
    """
    import importlib.util
    import os
    import subprocess

    from carnet.errors import CarnetError

    if importlib.util.find_spec("streamlit") is None:
        raise CarnetError("carnet lab needs Streamlit: pip install 'carnet[lab]'")
    args = command(host, port, welcome=not token)
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}  # none but the one given
    if token:
        env[TOKEN_ENV] = token  # not on the command line, which every local user can read
    everywhere = host.strip() in ("", "0.0.0.0", "::")
    where = " (every interface: this machine's own address in place of it)" if everywhere else ""
    print(f"carnet lab: {url(host, port, token)}{where} (Ctrl-C stops it)", flush=True)
    if os.name == "posix":  # the server takes this process's place: one process to stop
        os.execve(args[0], args, env)
    raise SystemExit(subprocess.call(args, env=env))
