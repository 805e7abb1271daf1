"""A real headless Chromium for the tests (Debian's ``chromium`` + ``chromium-driver``, Selenium).

In CI (``CI=true``) a missing browser is installed with apt-get, as the stack tests install
Docker; elsewhere the test is skipped with the command that installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

CHROMIUM = Path(os.environ.get("GPU_SHARE_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("GPU_SHARE_CHROMEDRIVER", "/usr/bin/chromedriver"))
INSTALL_HINT = "apt-get update && apt-get install -y chromium chromium-driver"
# Headless in a container: no sandbox (no user namespaces), no GPU, and nothing that phones
# home (no network here, and its retries would only slow the page down).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
T = TypeVar("T")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def _installed() -> bool:
    return CHROMIUM.is_file() and CHROMEDRIVER.is_file()


def ensure_chromium() -> None:
    """Chromium and its driver on this machine: installed in CI, else a skip naming the fix."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        if _in_ci():
            raise AssertionError("selenium is missing: pip install -e '.[dev]'") from None
        pytest.skip("selenium is not installed: pip install -e '.[dev]'")
    if _installed():
        return
    if not _in_ci():
        pytest.skip(f"no headless Chromium at {CHROMIUM} / {CHROMEDRIVER}: {INSTALL_HINT}")
    sudo = [] if os.geteuid() == 0 or shutil.which("sudo") is None else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"],
    ):
        done = subprocess.run(
            sudo + command, capture_output=True, text=True, timeout=900, env=env, check=False
        )
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}{done.stderr}")
    if not _installed():
        raise AssertionError(
            f"apt-get installed chromium, yet {CHROMIUM} or {CHROMEDRIVER} is missing"
        )


@contextmanager
def browser(width: int = 1280, height: int = 1000) -> Iterator[Any]:
    """A Selenium driver on a fresh headless Chromium (its own empty profile), always quit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    ensure_chromium()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    # The console's messages, read back with console_errors().
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver: Any) -> list[str]:
    """The console's errors since the last call (each read empties Chromium's buffer)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def wait_until(
    predicate: Callable[[], T | None], *, timeout: float, what: str, driver: Any = None
) -> T:
    """Poll ``predicate`` every 50 ms until it is truthy; fail naming ``what`` (and the page's
    text, with ``driver``) when ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.05)
    page = ""
    if driver is not None:
        page = "\npage text:\n" + driver.find_element("tag name", "body").text[:3000]
    raise AssertionError(f"{what} within {timeout:g} s (last: {last!r}){page}")


def screenshot(driver: Any, path: Path, *, width: int, selector: str = "body") -> Path:
    """A full-page PNG of the page at ``width`` pixels (height: the whole page)."""
    height = driver.execute_script(
        "return document.querySelector(arguments[0]).scrollHeight", selector
    )
    driver.set_window_size(width, int(height) + 120)
    time.sleep(0.3)  # one layout after the resize
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.find_element("css selector", selector).screenshot(str(path))
    return path
