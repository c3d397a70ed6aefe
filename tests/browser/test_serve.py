"""`d400 serve` in a real headless Chromium: the page loads, OPER1 signs on, an approved order is
taken with the browser-safe keys (Tab between fields, Alt+0 for F10, Alt+3 for F3) and the database
holds it. The terminal is drawn on a canvas, so the test reads what the app sends over the websocket
(the terminal's output) to know which panel is up before typing into it.

Needs Debian's `chromium` (apt-get install -y chromium) and `playwright` from PyPI; the browser is
Debian's, never one Playwright downloads."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from bench._servers import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ANSI = re.compile(r"\x1b\[[0-9;?<>]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\x1b[=>]|\x1b\][^\x07]*\x07")
CELL = (9, 18)  # xterm.js cell at the page's 16 px font: 720x432 px is 80x24

# skipped on a developer machine without chromium; under CI (.ci/run installs it) a missing browser fails
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and os.environ.get("CI") != "true", reason="Debian chromium not installed"
)


@pytest.fixture
def served(tmp_path, monkeypatch):
    """`d400 serve` on a free loopback port, on a database of its own (D400_HOME)."""
    for k in list(os.environ):
        if k.startswith("D400_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("D400_HOME", str(tmp_path))
    monkeypatch.setenv("D400_CONFIG", str(tmp_path / "absent.toml"))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "d400tui", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
        assert "no authentication" not in out  # loopback: no exposure warning


class Screen:
    """What the app has written to the browser's terminal, as text without escape sequences."""

    def __init__(self) -> None:
        self.raw = ""

    def on_frame(self, payload) -> None:
        data = payload if isinstance(payload, bytes) else payload.encode()
        self.raw += data.decode("utf-8", errors="ignore")

    @property
    def text(self) -> str:
        return ANSI.sub("", self.raw)

    async def key(self, page, key: str) -> None:
        """Press a key and wait until the app has answered it with output (the focus moving)."""
        before = len(self.raw)
        await page.keyboard.press(key)
        for _ in range(50):
            if len(self.raw) > before:
                return
            await page.wait_for_timeout(20)

    async def wait(self, page, needle: str, since: int = 0, seconds: float = 40) -> int:
        """Wait until `needle` appears after position `since`; returns the position after it."""
        for _ in range(int(seconds * 10)):
            pos = self.text.find(needle, since)
            if pos >= 0:
                return pos + len(needle)
            await page.wait_for_timeout(100)
        shot = os.environ.get("BROWSER_FAIL_SHOT") or str(Path(tempfile.gettempdir()) / "d400-browser-fail.png")
        await page.screenshot(path=shot)
        raise AssertionError(f"{needle!r} never shown; last output: {self.text[-400:]!r}")


async def test_order_taken_in_the_browser(served, tmp_path):
    pw = pytest.importorskip("playwright.async_api")
    from d400tui.config import Settings
    from d400tui.engine import open_engine

    screen = Screen()
    async with pw.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await browser.new_page(viewport={"width": 80 * CELL[0], "height": 24 * CELL[1]})
        # the page asks Google for a font: nothing leaves the machine
        await page.route(
            "**/*",
            lambda r: (
                r.continue_()
                if r.request.url.startswith(served) or r.request.url.startswith(served.replace("http", "ws"))
                else r.abort()
            ),
        )
        page.on("websocket", lambda ws: ws.on("framereceived", screen.on_frame))
        await page.goto(served, wait_until="domcontentloaded")
        pos = await screen.wait(page, "SIGNON")
        pos = await screen.wait(page, "F3=Quitter", pos)
        await page.screenshot(path=str(tmp_path / "serve-signon.png"))
        await page.focus("textarea.xterm-helper-textarea")  # where xterm.js reads the keyboard
        kb = page.keyboard
        await kb.type("OPER1")
        await screen.key(page, "Tab")
        await kb.type("oper1-demo")
        await kb.press("Enter")
        pos = await screen.wait(page, "MENU", pos)
        await kb.type("1")
        await kb.press("Enter")
        pos = await screen.wait(page, "ORDENT", pos)
        # typed ahead as one burst, with the 5250 field movement: the customer number and the card
        # move on when full, Enter goes article -> quantity -> next line, an empty line -> the card
        await kb.type("100001BON0001")
        await kb.press("Enter")
        await kb.type("1")
        await kb.press("Enter")
        await kb.press("Enter")
        await kb.type("49701000000000141230123")
        await kb.press("Alt+0")  # F10, which a browser may keep
        pos = await screen.wait(page, "autorisation", pos)
        shown = re.search(r"Commande (\d+) validée", screen.text)
        assert shown, screen.text[-400:]
        await kb.press("Alt+3")  # F3
        pos = await screen.wait(page, "MENU", pos)
        await browser.close()
    assert (tmp_path / "serve-signon.png").stat().st_size > 5000

    engine = open_engine(Settings())
    try:
        order = engine.get_order(int(shown.group(1)))
    finally:
        engine.db.dispose()
    assert (order.status, order.created_by, order.customer_id) == ("VALIDATED", "OPER1", 100001)
    assert (order.card_first6, order.card_last4, order.card_expiry) == ("497010", "0014", "12/30")


def _serve(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "d400tui", "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_binding_beyond_loopback_warns(tmp_path):
    env = {**os.environ, "D400_HOME": str(tmp_path), "D400_CONFIG": str(tmp_path / "absent.toml")}
    proc = _serve("--host", "0.0.0.0", "--port", str(free_port()), env=env)
    try:
        line = proc.stderr.readline()
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert line.startswith("warning: textual-serve has no authentication and no TLS")
    assert "reverse proxy" in line


def test_bad_host_is_one_line(tmp_path):
    env = {**os.environ, "D400_HOME": str(tmp_path), "D400_CONFIG": str(tmp_path / "absent.toml")}
    proc = _serve("--host", "a b", env=env)
    out, errs = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert errs.strip().splitlines() == ["d400: host: an address or a name without spaces expected"]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("127.8.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.4", False),
        ("d400.example", False),
    ],
)
def test_is_loopback(host, loopback):
    from d400tui.cli.serve import is_loopback

    assert is_loopback(host) is loopback


def test_request_urls_are_scrubbed_on_the_console(tmp_path):
    """textual-serve logs every request URL: a card number in one is masked on the console."""
    import httpx

    env = {**os.environ, "D400_HOME": str(tmp_path), "D400_CONFIG": str(tmp_path / "absent.toml")}
    port = free_port()
    proc = _serve("--port", str(port), env=env)
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/?card=4970100000000014", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        httpx.get(f"http://127.0.0.1:{port}/4970-1000-0000-0022", timeout=5)
        time.sleep(0.5)
    finally:
        proc.terminate()
        out, errs = proc.communicate(timeout=20)
    console = out + errs
    assert "card=497010" in console and "4970100000000014" not in console  # the request was logged, masked
    assert "4970-1000-0000-0022" not in console
