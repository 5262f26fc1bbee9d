"""The request class: where upload bodies are spooled, and how big other bodies may be.

* Only a multipart upload or a resumable upload's chunk may be as large as
  ``MAX_UPLOAD_MB``; any other
  body (JSON) is capped at :data:`MAX_BODY_BYTES`, so a 2 GB JSON document
  is a 413 before it is read, not a 2 GB string in memory.
* Large file parts are spooled to anonymous temporary files inside the data
  directory (``data/incoming``), not the system's ``/tmp``: the quota
  reservation covers them, they are on the file system the upload is stored
  on, and nothing is left behind if the process dies.
"""

from __future__ import annotations

import tempfile
from typing import IO

from flask import Request, current_app

MAX_BODY_BYTES = 2 * 1024 * 1024
# bodies that carry a file: a multipart upload, a chunk of a resumable upload
LARGE_BODY_TYPES = ("multipart/form-data", "application/offset+octet-stream")
SPOOL_IN_MEMORY = 500 * 1024  # smaller parts stay in memory (Werkzeug's own threshold)


class MediaCraftRequest(Request):
    @property
    def max_content_length(self) -> int | None:  # type: ignore[override]
        limit = Request.max_content_length.fget(self)  # type: ignore[attr-defined]
        if self.mimetype in LARGE_BODY_TYPES:
            return limit
        return MAX_BODY_BYTES if limit is None else min(limit, MAX_BODY_BYTES)

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        Request.max_content_length.fset(self, value)  # type: ignore[attr-defined]

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        if total_content_length is not None and total_content_length <= SPOOL_IN_MEMORY:
            return super()._get_file_stream(
                total_content_length, content_type, filename, content_length
            )
        directory = current_app.config["MEDIACRAFT"].data_dir / "incoming"
        directory.mkdir(exist_ok=True)
        spool = tempfile.TemporaryFile("wb+", dir=directory)
        self.__dict__.setdefault("_spools", []).append(spool)
        return spool

    def close(self) -> None:
        """Close the spool files too: a body refused halfway (413) leaves some unlisted."""
        try:
            super().close()
        finally:
            for spool in self.__dict__.pop("_spools", []):
                spool.close()
