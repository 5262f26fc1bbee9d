"""Anonymous visitor identity: a signed, HttpOnly, SameSite=Lax cookie holding a user id.

A missing, unsigned or tampered cookie gets a fresh identity, never someone
else's. The identity is only a cookie until the visitor does something that
needs a record (creating a task, uploading: :meth:`TaskService.ensure_user`):
a page view, a poll or a bot's probe writes nothing to disk.
``last_accessed`` of an existing record is written at most once a minute
per visitor and process (an in-memory note of recent touches), not on every
request, so status polling costs no user-record I/O.
"""

from __future__ import annotations

import threading
import time

from flask import Flask, Response, current_app, g, request
from itsdangerous import BadSignature, Signer

from ..exceptions import NotFound
from ..model import User, is_uuid, new_id, utcnow

COOKIE_NAME = "mc_uid"
COOKIE_MAX_AGE = 400 * 24 * 3600  # browsers cap cookie lifetime near 400 days
TOUCH_INTERVAL = 60.0
# Endpoints that neither read nor give an identity (modules with such routes add theirs).
COOKIELESS_ENDPOINTS = {"static", "health.healthz"}


class Identity:
    def __init__(self, app: Flask | None = None) -> None:
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        app.extensions["mediacraft_identity"] = self
        app.before_request(self._before)
        app.after_request(self._after)

    @staticmethod
    def _signer() -> Signer:
        return Signer(current_app.secret_key, salt="mediacraft-identity")

    def sign(self, user_id: str) -> str:
        return self._signer().sign(user_id).decode("ascii")

    def unsign(self, value: str | None) -> str | None:
        if not value:
            return None
        try:
            user_id = self._signer().unsign(value).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            return None
        return user_id if is_uuid(user_id) else None

    def _before(self) -> None:
        if request.endpoint in COOKIELESS_ENDPOINTS:
            return
        storage = current_app.extensions["mediacraft"].storage
        user_id = self.unsign(request.cookies.get(COOKIE_NAME))
        g.new_identity = False
        if user_id is None:
            user_id = new_id()  # a cookie only: the record waits for the first task
            g.new_identity = True
            self._remember(user_id)
        elif self._due(user_id):
            self._touch(storage, user_id)
        g.user_id = user_id

    def _due(self, user_id: str) -> bool:
        with self._lock:
            last = self._touched.get(user_id)
        return last is None or time.monotonic() - last >= TOUCH_INTERVAL

    def _remember(self, user_id: str) -> None:
        with self._lock:
            if len(self._touched) > 100_000:
                self._touched.clear()
            self._touched[user_id] = time.monotonic()

    def _touch(self, storage, user_id: str) -> None:  # StorageInterface
        def refresh(user: User) -> None:
            user.last_accessed = utcnow()

        try:
            storage.update_user(user_id, refresh)
        except NotFound:  # no record yet (or expired): made when the visitor creates a task
            pass
        self._remember(user_id)

    def _after(self, response: Response) -> Response:
        if getattr(g, "new_identity", False):
            self.give(response, g.user_id)
        return response

    def give(self, response: Response, user_id: str) -> None:
        """Make ``response`` set the identity cookie of ``user_id`` (instead of any other)."""
        g.new_identity = False
        response.set_cookie(
            COOKIE_NAME,
            self.sign(user_id),
            max_age=COOKIE_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=current_app.config["MEDIACRAFT"].cookie_secure,
            path="/",
        )
        response.vary.add("Cookie")

    def forget(self, response: Response) -> None:
        """Make ``response`` remove the identity cookie (the next visit starts a new one)."""
        g.new_identity = False
        response.delete_cookie(
            COOKIE_NAME,
            httponly=True,
            samesite="Lax",
            secure=current_app.config["MEDIACRAFT"].cookie_secure,
            path="/",
        )
        response.vary.add("Cookie")
