"""Helpers for API tests that send files and read file answers."""

from __future__ import annotations

import io
from pathlib import Path

from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import stream_encode_multipart


def multipart(client, url: str, files, form: dict | None = None):
    """POST ``files`` [(bytes or path, file name)] as repeated ``file`` parts.

    The body is encoded in memory: the test client's own encoder spools large
    bodies to a temporary file it never closes (a ResourceWarning).
    """
    parts = [
        FileStorage(
            io.BytesIO(content.read_bytes() if isinstance(content, Path) else content),
            filename=name,
            content_type="video/mp4",
        )
        for content, name in files
    ]
    data = MultiDict([("file", part) for part in parts] + list((form or {}).items()))
    body, length, boundary = stream_encode_multipart(data, use_tempfile=False)
    return client.post(
        url,
        input_stream=body,
        content_length=length,
        content_type=f'multipart/form-data; boundary="{boundary}"',
    )


def assert_error(response, code: int, *fragments: str) -> str:
    body = response.get_json()
    assert response.status_code == code, body
    assert body["success"] is False and body["code"] == code
    assert set(body) == {"success", "code", "message", "data", "meta"}
    for fragment in fragments:
        assert fragment in body["message"], body["message"]
    return body["message"]


def files_under(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


def fetch(client, url: str, **kwargs):
    """GET a file answer and close it (send_file keeps the file open until closed)."""
    response = client.get(url, **kwargs)
    payload = response.get_data()
    response.close()
    return response, payload
