"""`carnet lab` says where it listens: this machine alone, or elsewhere with --expose and a token.

The lab has no login. A host that other machines may reach is refused unless --expose is given;
then a warning names the address and the page asks for a random token in its address, checked
before it draws anything (with AppTest, and in Chromium against a server on every interface).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port, need, offline_page, run_script, script_path

from carnet.lab import TOKEN_ENV, app_path, command, is_loopback, url


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.0.2.7", False),
        ("10.0.0.1", False),
        ("::ffff:127.0.0.1", False),  # mapped: refused rather than guessed at
        ("example.org", False),
        ("localhost.example.org", False),
    ],
)
def test_loopback_is_this_machine_alone(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_address_carries_the_token() -> None:
    assert url("127.0.0.1", 8501) == "http://127.0.0.1:8501/"
    assert url("::1", 80, "abc") == "http://[::1]:80/?token=abc"
    options = dict(zip(command()[5::2], command()[6::2], strict=True))
    assert options["--logger.hideWelcomeMessage"] == "false"
    quiet = command(welcome=False)  # Streamlit's own addresses would lack the token
    assert dict(zip(quiet[5::2], quiet[6::2], strict=True))["--logger.hideWelcomeMessage"] == "true"


def _listening(pid: int) -> list[tuple[str, int]]:
    """The addresses that ``pid`` and its children listen on (TCP)."""
    psutil = pytest.importorskip("psutil", reason="no psutil: pip install 'carnet[distributed]'")
    found = []
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        for conn in proc.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN:
                found.append((conn.laddr.ip, conn.laddr.port))
    return found


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "example.org", ""])
def test_a_host_others_may_reach_is_refused_without_expose(host: str) -> None:
    port = free_port()
    done = run_script("lab", "--host", host, "--port", str(port), timeout=60)
    assert done.code == 2, done.text
    assert f"carnet lab: --host {host!r} is not this machine alone" in done.stderr
    assert "anyone who can reach" in done.stderr and "Add --expose" in done.stderr
    assert "Traceback" not in done.text and done.stdout == ""


@pytest.fixture
def exposed(tmp_path: Path) -> Iterator[tuple[int, str, str, subprocess.Popen[bytes]]]:
    """``carnet lab --host 0.0.0.0 --expose``: its port, what it printed, and its process."""
    exe = script_path()
    if exe is None:
        pytest.skip("the carnet console script is not installed")
    need("streamlit")
    port = free_port()
    folders = {name: tmp_path / name for name in ("home", "work", "tmp")}
    for folder in folders.values():
        folder.mkdir()
    env = {**os.environ, "HOME": str(folders["home"]), "TMPDIR": str(folders["tmp"])}
    env[TOKEN_ENV] = "from-the-environment"  # never the token: carnet lab draws its own
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out.open("wb") as o, err.open("wb") as e:
        server = subprocess.Popen(
            [exe, "lab", "--host", "0.0.0.0", "--expose", "--port", str(port)],
            cwd=folders["work"], env=env, stdout=o, stderr=e, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, err.read_text()
            try:
                health = f"http://127.0.0.1:{port}/_stcore/health"
                with urllib.request.urlopen(health, timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "carnet lab did not answer within 120 s"
            time.sleep(0.2)
        yield port, out.read_text(), err.read_text(), server
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=30)


REFUSED = "This lab asks for its token"


def test_an_exposed_lab_warns_and_admits_only_its_token(
    exposed: tuple[int, str, str, subprocess.Popen[bytes]],
) -> None:
    port, printed, warned, server = exposed
    assert f"warning: listening on 0.0.0.0:{port} (every interface of this machine)" in warned
    assert "anyone who can reach that address" in warned and "run simulations" in warned
    (line,) = [line for line in printed.splitlines() if line.startswith("carnet lab: ")]
    found = re.fullmatch(
        rf"carnet lab: http://0\.0\.0\.0:{port}/\?token=([A-Za-z0-9_-]{{32}}) .*", line
    )
    assert found, line
    token = found.group(1)
    assert token != "from-the-environment"
    assert "Local URL" not in printed  # Streamlit's own addresses, without the token: not shown
    assert ("0.0.0.0", port) in _listening(server.pid)
    base = f"http://127.0.0.1:{port}"
    with offline_page((base, base.replace("http", "ws")), 1400, 1000) as (page, errors, remote):
        for wrong in ("/", "/?token=", "/?token=from-the-environment", f"/?token={token}x"):
            page.goto(base + wrong)
            page.get_by_text(REFUSED).wait_for(timeout=120_000)
            page.wait_for_timeout(1500)  # nothing else comes
            assert page.get_by_role("button", name="Run", exact=True).count() == 0
            assert page.get_by_role("heading", name="carnet lab").count() == 0  # not the title
            assert page.locator('[data-testid="stSidebar"]').count() == 0
        page.goto(f"{base}/?token={token}")
        # Admitted: the opening run of the default city (minutes at most, the first time numba
        # compiles the kernels on this machine), then a second run: the session stays admitted.
        page.get_by_text("Run 1:").wait_for(timeout=300_000)
        assert page.get_by_text(REFUSED).count() == 0
        assert page.get_by_role("heading", name="carnet lab").count() == 1
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_text("Run 2:").wait_for(timeout=120_000)
    assert remote == [], f"the lab asked the network for {remote}"
    assert errors == []


def test_the_page_checks_the_token_before_it_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    need("streamlit")
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(TOKEN_ENV, "s3cret-token")
    for given in (None, "wrong", "s3cret-toke"):
        at = AppTest.from_file(str(app_path()), default_timeout=300)
        if given is not None:
            at.query_params["token"] = given
        at.run()
        assert not at.exception
        assert [e.value for e in at.error] == [
            "This lab asks for its token: open the address that `carnet lab` printed, "
            "which ends in `?token=…`."
        ]
        assert not at.button and not at.sidebar.children and "current" not in at.session_state
    at = AppTest.from_file(str(app_path()), default_timeout=300)
    at.query_params["token"] = "s3cret-token"
    at.session_state["opened"] = True  # no opening run: the page alone
    at.run()
    assert not at.exception and not at.error
    assert at.session_state["admitted"] is True and at.button(key="run") is not None
    at.query_params.clear()  # admitted once: the session stays so
    at.run()
    assert not at.error and at.button(key="run") is not None
    monkeypatch.delenv(TOKEN_ENV)  # without a token (carnet lab on this machine), no check
    at = AppTest.from_file(str(app_path()), default_timeout=300)
    at.session_state["opened"] = True
    at.run()
    assert not at.error and "admitted" not in at.session_state


def test_with_token_on_this_machine(tmp_path: Path) -> None:
    exe = script_path()
    if exe is None:
        pytest.skip("the carnet console script is not installed")
    need("streamlit")
    port = free_port()
    with (tmp_path / "out.log").open("wb") as o:
        server = subprocess.Popen(
            [exe, "lab", "--token", "--port", str(port)],
            stdout=o, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not re.search(r"\?token=\S{32}", (tmp_path / "out.log").read_text()):
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        text = (tmp_path / "out.log").read_text()
        assert f"carnet lab: http://127.0.0.1:{port}/?token=" in text
        assert "warning" not in text
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
