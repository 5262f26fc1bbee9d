"""Schemathesis over ``/api/openapi.json``, in-process: no 500, no answer outside the schema."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from mediacraft import create_app

_DATA = Path(tempfile.mkdtemp(prefix="mc-schemathesis-"))
APP = create_app(
    {
        "data_dir": _DATA,
        "secret_key": "schemathesis-secret-key-0123456789abcdef",
        "run_queue": False,  # requests only: no URL is ever fetched
        "max_upload_mb": 1,
    }
)


@schemathesis.serializer("application/offset+octet-stream")
def _raw_bytes(ctx, value) -> bytes:  # a resumable upload's chunk is raw bytes
    return value if isinstance(value, bytes) else str(value).encode()


schema = schemathesis.openapi.from_wsgi("/api/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _cleanup():
    yield
    shutil.rmtree(_DATA, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_errors_and_keeps_its_schema(case) -> None:
    from schemathesis.checks import (
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    case.call_and_validate(
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance]
    )
