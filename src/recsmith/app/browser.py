"""Drive ``recsmith app`` in a real browser: the system's headless Chromium through Playwright.

Used by the browser test, the app's speed benchmark (``benchmarks/app_speed.py``) and the screenshot
in ``docs/app.md``. Playwright only drives the browser: it never downloads one (no ``playwright
install``); the browser is Debian's ``chromium`` (``scripts/ci-system-deps.sh`` installs it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsmith.errors import RecsmithError

CHROMIUM = "/usr/bin/chromium"
#: no GPU, no sandbox (containers run as root), and none of the browser's own network traffic
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def missing_browser() -> str | None:
    """Why the browser cannot run here, or None when it can."""
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (Debian package `chromium`, installed by scripts/ci-system-deps.sh)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pinned in requirements.lock)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class AppProcess:
    """``recsmith app`` running as a child process; ``started`` / ``listening`` are monotonic seconds."""

    url: str
    process: subprocess.Popen
    started: float
    listening: float
    log: Path


@contextmanager
def app_process(args: list[str], log: Path, *, timeout_s: float = 120.0) -> Iterator[AppProcess]:
    """Start ``recsmith app ARGS --port P`` and wait until it answers; stop it on exit."""
    port = free_port()
    command = [sys.executable, "-m", "recsmith.cli.main", "app", *args, "--port", str(port)]
    env = {**os.environ, "RECSMITH_PROGRESS": "0"}
    url = f"http://127.0.0.1:{port}/"
    with log.open("w") as out:
        started = time.monotonic()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            listening = _wait_until_up(url, process, log, started + timeout_s)
            yield AppProcess(url, process, started, listening, log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(url: str, process: subprocess.Popen, log: Path, deadline: float) -> float:
    import httpx

    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RecsmithError(f"recsmith app exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return time.monotonic()
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RecsmithError(f"recsmith app did not answer at {url} in time:\n{log.read_text()[-3000:]}")


@dataclass
class Requests:
    """Every URL the page asked for, and those outside the app (must stay empty: the app is offline)."""

    base: str
    all: list[str] = field(default_factory=list)

    def __call__(self, request: Any) -> None:
        self.all.append(request.url)

    @property
    def outside(self) -> list[str]:
        return [u for u in self.all if not u.startswith((self.base, "data:", "blob:"))]


@contextmanager
def browser_page(url: str, *, width: int = 1400, height: int = 1000) -> Iterator[tuple[Any, Requests]]:
    """A new page of the system's headless Chromium, recording its requests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_FLAGS))
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            requests = Requests(url.rstrip("/"))
            page.on("request", requests)
            yield page, requests
        finally:
            browser.close()


def table_rows(page: Any, table: str) -> list[list[str]]:
    """The body rows of a gradio Dataframe (``#elem-id``) as text cells."""
    rows = page.locator(f"{table} [role=row]")
    cells = [rows.nth(r).locator("[role=gridcell]").all_inner_texts() for r in range(1, rows.count())]  # 0: header
    return [[c.strip() for c in row] for row in cells]


def choose_user(page: Any, user_id: str) -> None:
    """Type ``user_id`` into the user picker and commit it."""
    box = page.locator("#user-id input")
    box.click()
    box.fill(user_id)
    box.press("Enter")
