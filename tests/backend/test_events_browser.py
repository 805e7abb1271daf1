"""A real browser's EventSource follows a background job (headless Chromium, real HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from backend import Settings
from tests.browser import browser, console_errors, wait_until

pytestmark = pytest.mark.timeout(300)

# The docs' browser example, with the key as access_token; it does not close the stream on
# "done", so the reconnect after the end must be what stops it (204).
FOLLOW = """
const [key, done] = [arguments[0], arguments[arguments.length - 1]];
window.seen = [];
const created = await (await fetch("/v1/images/jobs", {
  method: "POST",
  headers: {"Content-Type": "application/json", Authorization: `Bearer ${key}`},
  body: JSON.stringify({prompt: "a fox", size: "64x64", num_inference_steps: 5}),
})).json();
window.source = new EventSource(`/v1/images/jobs/${created.id}/events?access_token=${key}`);
for (const kind of ["queued", "position", "running", "lease", "step", "done", "failed"]) {
  window.source.addEventListener(kind, (e) => window.seen.push([kind, e.lastEventId, e.data]));
}
done(created.id);
"""


def test_event_source_reads_every_step_and_stops_after_the_end(
    settings_factory: Callable[..., Settings], ready_server: Callable[[Settings], Any]
) -> None:
    with ready_server(settings_factory(api_key="sk-browser")) as url, browser() as driver:
        driver.get(f"{url}/healthz")  # same origin as the API
        driver.set_script_timeout(60)
        job_id = driver.execute_async_script(FOLLOW, "sk-browser")
        seen = wait_until(
            lambda: (
                [s for s in driver.execute_script("return window.seen") if s[0] == "done"]
                and driver.execute_script("return window.seen")
            ),
            timeout=120,
            what="the done event",
            driver=driver,
        )
        # After the stream ends EventSource reconnects once with Last-Event-ID; the 204 closes it.
        wait_until(
            lambda: driver.execute_script("return window.source.readyState") == 2,
            timeout=30,
            what="EventSource closed (readyState 2)",
        )
        errors = console_errors(driver)
    kinds = [kind for kind, _, _ in seen]
    assert kinds[0] == "queued"
    assert kinds[-1] == "done"
    assert kinds.count("step") == 5
    assert [int(last_id) for _, last_id, _ in seen] == list(range(1, len(seen) + 1))
    assert all(job_id in data for _, _, data in seen)
    assert not [e for e in errors if "events" in e and "204" not in e], errors
