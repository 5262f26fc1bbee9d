"""``/api/openapi.json`` describes every /api route the app serves."""

from __future__ import annotations

import re


def test_every_api_route_is_documented(client, app) -> None:
    doc = client.get("/api/openapi.json").json
    assert doc["openapi"].startswith("3.")
    documented = {
        (path, method.upper()) for path, ops in doc["paths"].items() for method in ops
    }
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule == "/api/openapi.json":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method))
    assert served - documented == set(), "undocumented endpoints"
    assert documented - served == set(), "documented endpoints that do not exist"
