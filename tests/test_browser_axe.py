"""axe-core (from npm, installed by ``.ci/run`` into ``tests/.axe``; never shipped) finds no
serious or critical accessibility violation on any page, in English or Chinese, light or dark."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.media import make_video
from tests.support.origin import Origin
from tests.support.server import AppServer
from tests.test_browser import DESKTOP, TIMEOUT_MS

AXE = Path(__file__).parent / ".axe" / "node_modules" / "axe-core" / "axe.min.js"


def _require_axe() -> None:
    if AXE.is_file():
        return
    reason = f"axe-core not installed at {AXE} (npm install --prefix tests/.axe axe-core@4)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)



@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppServer, Origin]]:
    root = tmp_path_factory.mktemp("axe-origin")
    make_video(root / "v.mp4", seconds=2.0, size="320x240")
    with Origin(root) as origin, AppServer(
        tmp_path_factory.mktemp("axe-web") / "data", workers=1
    ) as server:
        yield server, origin


def violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
    )
    return found


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_no_serious_violations(browser, site, lang: str, scheme: str) -> None:
    server, origin = site
    context = browser.new_context(
        viewport=DESKTOP, locale="en-US", color_scheme=scheme, bypass_csp=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(f"{server.url}/tasks?lang={lang}")
        answer = page.request.post(
            server.url + "/api/tasks/create",
            data={"task_type": "download", "url": origin.url("v.mp4"), "name": "Clip"},
        )
        task_id = answer.json()["data"]["task_id"]
        answer.dispose()
        page.wait_for_function(
            "async (url) => (await (await fetch(url)).json()).data.status === 'completed'",
            arg=f"{server.url}/api/tasks/{task_id}/status",
            polling=200,
        )
        page.request.post(f"{server.url}/api/tasks/{task_id}/tags", data={"tag": "demo"})
        found: dict[str, list[str]] = {}
        for path, ready in (
            ("/", "#download-form"),
            ("/tasks", f'.task-item[data-task-id="{task_id}"] .task-poster'),
            (f"/tasks/{task_id}", "#t-shares li"),
            ("/account", "#a-link"),
            ("/link/not-a-link", "h1"),
            ("/no-such-page", "h1"),
        ):
            page.goto(server.url + path)
            page.locator(ready).first.wait_for()
            problems = violations(page)
            if problems:
                found[path] = problems
        assert found == {}
    finally:
        context.close()
