"""Fixtures shared by the suite: an app on a temporary data directory, clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mediacraft import create_app

TEST_PLUGINS = ("tests.support.sleeper",)
pytest_plugins = ("tests.support.postgres",)


@pytest.fixture
def app_config(tmp_path) -> dict:
    """Overrides of Config for the ``app`` fixture; tests may update it before use."""
    return {
        "data_dir": tmp_path / "data",
        "secret_key": "test-secret-key-that-is-long-enough-0123456789",
        "plugins": TEST_PLUGINS,
        "poll_seconds": 0.1,
        "allowed_networks": ("127.0.0.1", "::1", "localhost"),
    }


@pytest.fixture
def app(app_config: dict) -> Iterator[Flask]:
    application = create_app(app_config)
    yield application
    extension = application.extensions["mediacraft"]
    if extension.queue is not None:
        extension.queue.shutdown(timeout=5)
    extension.storage.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def other_client(app: Flask) -> FlaskClient:
    """A second visitor (its own cookie jar)."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, one per test module (the browser tests' shared fixture)."""
    from playwright import sync_api

    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, _require_chromium

    _require_chromium()
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
