"""Open my tasks on another device, and leave: device links and deleting a visitor.

A device link is signed (the visitor id and a random nonce, with its time)
and valid for :data:`LINK_SECONDS`; the nonce is also kept in the visitor's
record (``metadata["device_links"]``) and taken out, under the record's lock,
when the link is used, so each link works once. The QR code is drawn by
`segno` (pure Python, SVG, no image library) as a ``data:`` URI the page can
show in an ``<img>``.

Deleting a visitor removes every task (a running one is cancelled first),
their upload and result folders, their quota ledger and the record; the
cookie is cleared by the view. Files a cancelled run was still writing are
swept by ``mediacraft cleanup`` as orphans.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import time
from dataclasses import dataclass
from typing import Any

import segno
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .exceptions import InvalidTransition, NotFound
from .links import LinkRefused
from .model import TaskStatus, User, is_uuid
from .paths import TaskPaths
from .service import TaskService

log = logging.getLogger(__name__)

LINKS_KEY = "device_links"
LINK_SECONDS = 600
MAX_OPEN_LINKS = 5  # unexpired, unused links per visitor; the oldest goes first


def _serializer(secret_key: str | bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="mediacraft-device-link")


@dataclass(frozen=True)
class DeviceLink:
    token: str
    expires_at: int

    def qr_data_uri(self, url: str) -> str:
        return segno.make(url, error="m").svg_data_uri(scale=4, border=2)


def create_link(service: TaskService, secret_key: str | bytes, user_id: str) -> DeviceLink:
    """A new single-use link for ``user_id`` (the record is made if it does not exist yet)."""
    service.ensure_user(user_id)
    nonce = secrets.token_hex(12)
    now = int(time.time())

    def add(user: User) -> None:
        links = {
            n: exp
            for n, exp in (user.metadata.get(LINKS_KEY) or {}).items()
            if isinstance(exp, int) and exp > now
        }
        while len(links) >= MAX_OPEN_LINKS:
            links.pop(min(links, key=links.__getitem__))
        links[nonce] = now + LINK_SECONDS
        user.metadata[LINKS_KEY] = links

    service.storage.update_user(user_id, add)
    token = _serializer(secret_key).dumps({"u": user_id, "n": nonce})
    return DeviceLink(token, now + LINK_SECONDS)


def _read(secret_key: str | bytes, token: str) -> dict[str, str]:
    try:
        data = _serializer(secret_key).loads(token, max_age=LINK_SECONDS)
    except SignatureExpired:
        raise LinkRefused(
            "This device link has expired (links last 10 minutes)", "expired"
        ) from None
    except BadSignature:
        raise LinkRefused("This device link is not valid", "invalid", 404) from None
    if not isinstance(data, dict) or not is_uuid(str(data.get("u"))) or not data.get("n"):
        raise LinkRefused("This device link is not valid", "invalid", 404)
    return data


def check_link(service: TaskService, secret_key: str | bytes, token: str) -> str:
    """The visitor id a link opens, if it can still be used (nothing is changed)."""
    data = _read(secret_key, token)
    user = service.storage.get_user(data["u"])
    if user is None:
        raise LinkRefused("The tasks of this link were deleted", "deleted")
    if data["n"] not in (user.metadata.get(LINKS_KEY) or {}):
        raise LinkRefused("This device link was already used; create a new one", "used")
    return data["u"]


def use_link(service: TaskService, secret_key: str | bytes, token: str) -> str:
    """Spend the link: its visitor id, once. Twice, late or forged: :class:`LinkRefused`."""
    data = _read(secret_key, token)

    class _Used(Exception):
        pass

    def spend(user: User) -> None:
        links = dict(user.metadata.get(LINKS_KEY) or {})
        if links.pop(data["n"], None) is None:
            raise _Used()
        user.metadata[LINKS_KEY] = links

    try:
        service.storage.update_user(data["u"], spend)
    except NotFound:
        raise LinkRefused("The tasks of this link were deleted", "deleted") from None
    except _Used:
        raise LinkRefused("This device link was already used; create a new one", "used") from None
    return data["u"]


def delete_visitor(service: TaskService, user_id: str) -> dict[str, Any]:
    """Remove everything the server keeps about ``user_id``; what was removed."""
    config, storage = service.config, service.storage
    task_ids = list(storage.user_task_states(user_id))
    removed = 0
    for task_id in task_ids:
        task = storage.get_task(task_id)
        if task is None or task.user_id != user_id:
            continue
        if task.status is TaskStatus.PROCESSING:  # told to stop; its run removes its files
            try:
                service.cancel(user_id, task_id)
            except (InvalidTransition, NotFound):
                pass
        try:
            storage.delete_task(task_id)
        except NotFound:
            continue
        TaskPaths.of(config.data_dir, task).remove_all()
        removed += 1
    for kind in ("uploads", "results"):
        shutil.rmtree(config.data_dir / kind / user_id, ignore_errors=True)
    (config.data_dir / "quota" / f"{user_id}.json").unlink(missing_ok=True)
    try:
        storage.delete_user(user_id)
    except NotFound:
        pass
    log.info("Visitor %s deleted with %d tasks", user_id, removed)
    return {"tasks_deleted": removed}
