"""The cookie-signing key: from configuration, or generated once and kept in data/."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

KEY_FILE = "secret_key"


def load_or_create_secret(data_dir: Path, configured: str = "") -> str:
    """Return ``configured`` if set, else the key in ``data_dir/secret_key`` (mode 0600).

    Creation is race-free across processes: the key is written to a temp file
    and hard-linked into place, so a second process either wins the link or
    reads the complete key the first one wrote.
    """
    if configured:
        return configured
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / KEY_FILE
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".secret_key.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, secrets.token_urlsafe(48).encode("ascii"))
            os.fsync(fd)
            os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable key; remove it to generate a new one")
    return key
