"""The pages: rendered by the Flask client, within the CSP, private to their visitor."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

PAGES = ["/", "/tasks", "/tasks?status=failed&type=download&search=x&page=2"]


class Audit(HTMLParser):
    """Collects what a strict CSP would block, and the form controls without a label."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.controls: list[str] = []
        self.labels: set[str] = set()
        self.in_label = 0
        self.scripts: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        for name in a:
            if name == "style" or name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
        for name in ("href", "src", "action"):
            if (a.get(name) or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:>")
        if tag == "style":
            self.problems.append("<style>")
        if tag == "script":
            self.scripts.append(a)
        if tag == "label":
            self.in_label += 1
            if a.get("for"):
                self.labels.add(a["for"])
        if tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            if self.in_label:
                return
            if not (a.get("aria-label") or a.get("aria-labelledby")):
                self.controls.append(a.get("id") or tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.in_label -= 1


def audit(html: str) -> Audit:
    parser = Audit()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_page_renders_within_the_csp(client, path: str, lang: str) -> None:
    response = client.get(path, headers={"Accept-Language": lang})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    html = response.get_data(as_text=True)
    found = audit(html)
    assert found.problems == []
    for script in found.scripts:  # external files, or JSON data blocks that never run
        assert script.get("src", "").startswith("/static/") or script.get("type") == (
            "application/json"
        ), script
    unlabelled = [c for c in found.controls if c not in found.labels]
    assert unlabelled == []
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)  # nothing from a CDN


def test_static_files_are_served(client) -> None:
    html = client.get("/").get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {"app.css", "common.js", "create.js"}
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        response.close()


def test_navigation(client) -> None:
    html = client.get("/tasks").get_data(as_text=True)
    nav = html.split("<nav", 1)[1].split("</nav>", 1)[0]
    assert ">Create<" in nav and "<summary>My</summary>" in nav
    assert re.search(r'<a href="/tasks" aria-current="page">Task list</a>', nav)
    assert 'href="/tasks?lang=zh"' in nav and ">中文<" in nav


def test_create_page_has_the_three_flows(client) -> None:
    html = client.get("/").get_data(as_text=True)
    for element in ('id="download-form"', 'id="dl-quality"', 'id="dl-profile"',
                    'id="wm-file"', 'id="wm-progress"', 'id="wm-frame-range"',
                    'id="wm-frame-number"', 'id="wm-canvas"', 'id="mg-files"', "multiple"):
        assert element in html  # fmt: skip
    assert 'value="low_bandwidth"' in html and 'value="720p"' in html


def test_create_page_gets_the_servers_limits_in_its_data_block(app_config) -> None:
    from mediacraft import create_app
    from mediacraft.processors.merge import MIN_CLIPS
    from mediacraft.processors.watermark import MAX_REGIONS, MIN_REGION_SIZE

    app_config.update(max_clips=7, run_queue=False)
    html = create_app(app_config).test_client().get("/").get_data(as_text=True)
    block = html.split('<script type="application/json" id="i18n">', 1)[1].split("</script>")[0]
    assert json.loads(block)["limits"] == {
        "max_regions": MAX_REGIONS,
        "min_region_size": MIN_REGION_SIZE,
        "min_clips": MIN_CLIPS,
        "max_clips": 7,  # the configured value, not a constant in the script
    }


def test_task_page_for_its_owner(client) -> None:
    created = client.post(
        "/api/tasks/create", json={"task_type": "watermark_removal", "name": "<b>clip</b>"}
    ).get_json()
    task_id = created["data"]["task_id"]
    response = client.get(f"/tasks/{task_id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert audit(html).problems == []
    assert "&lt;b&gt;clip&lt;/b&gt;" in html and "<b>clip</b>" not in html.split("task-data")[0]
    data = html.split('<script type="application/json" id="task-data">', 1)[1]
    task = json.loads(data.split("</script>", 1)[0])
    assert task["task_id"] == task_id and task["status"] == "created"
    assert "<" not in data.split("</script>", 1)[0]  # escaped inside the data block
    assert f'href="/api/tasks/{task_id}/download"' in html and "<video" in html


def test_another_visitors_task_is_not_found(client, other_client) -> None:
    created = client.post("/api/tasks/create", json={"task_type": "video_merge"}).get_json()
    task_id = created["data"]["task_id"]
    response = other_client.get(f"/tasks/{task_id}?lang=zh")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "未找到" in html and "task-data" not in html
    assert response.headers["Content-Security-Policy"]
    assert other_client.get("/tasks/not-a-uuid").status_code == 404


def test_unknown_page_is_a_translated_404_and_api_stays_json(client) -> None:
    response = client.get("/nowhere", headers={"Accept-Language": "zh"})
    assert response.status_code == 404 and "未找到" in response.get_data(as_text=True)
    api = client.get("/api/nowhere")
    assert api.status_code == 404
    assert api.get_json()["success"] is False and api.get_json()["code"] == 404
