"""The visitor's own data: a link that opens their tasks on another device, and leaving.

``POST /api/user/device-link`` makes a single-use link (and its QR code);
``/link/{token}`` asks the other browser to confirm, then gives it the
identity; ``POST /api/user/delete`` removes everything about the visitor.
``/account`` is the page with both.
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..devices import LINK_SECONDS, check_link, create_link, delete_visitor, use_link
from ..exceptions import ValidationError
from ..links import LinkRefused, refused_page
from .envelope import envelope, json_body
from .openapi import EXTRA_PATHS, op

bp = Blueprint("account_api", __name__, url_prefix="/api/user")
pages = Blueprint("account", __name__)


@bp.record_once
def _register_pages(state) -> None:  # state: BlueprintSetupState
    state.app.register_blueprint(pages)


def _identity():
    return current_app.extensions["mediacraft_identity"]


@bp.post("/device-link")
def device_link():
    service = current_app.extensions["mediacraft"].service
    link = create_link(service, current_app.secret_key, g.user_id)
    path = url_for("account.open_link", token=link.token)
    url = request.host_url.rstrip("/") + path
    expires = datetime.fromtimestamp(link.expires_at, timezone.utc)
    return envelope(
        {
            "path": path,
            "url": url,
            "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "expires_in": LINK_SECONDS,
            "qr": link.qr_data_uri(url),
        },
        code=201,
        message="Device link created",
    )


@bp.post("/delete")
def delete_me():
    body = json_body()
    if body.get("confirm") is not True:
        raise ValidationError(
            'Send {"confirm": true} to delete all your tasks, files and your record'
        )
    service = current_app.extensions["mediacraft"].service
    removed = delete_visitor(service, g.user_id)
    response = envelope({"deleted": True, **removed}, message="Everything about you was deleted")
    _identity().forget(response)
    return response


def account_strings() -> dict:
    return {
        "account": {
            "link_ready": _("Open this link or scan the code on the other device within "
                            "10 minutes. It works once."),
            "copied": _("Link copied."),
            "confirm_delete": _("Delete all your tasks, their files and your record on this "
                                "server? This cannot be undone."),
            "deleted": _("Everything about you was deleted."),
            "failed": _("Something went wrong. Try again."),
        }
    }


@pages.get("/account")
def account_page():
    return render_template("account.html", strings=account_strings())


@pages.get("/link/<token>")
def open_link(token: str):
    service = current_app.extensions["mediacraft"].service
    try:
        check_link(service, current_app.secret_key, token)
    except LinkRefused as exc:
        return refused_page(exc)
    return render_template("device_link.html", strings={}, token=token)


@pages.post("/link/<token>")
def use(token: str):
    service = current_app.extensions["mediacraft"].service
    try:
        user_id = use_link(service, current_app.secret_key, token)
    except LinkRefused as exc:
        return refused_page(exc)
    response = redirect(url_for("web.tasks"), code=303)
    _identity().give(response, user_id)
    return response


LINK = {
    "type": "object",
    "properties": {
        "path": {"type": "string"},
        "url": {"type": "string"},
        "expires_at": {"type": "string"},
        "expires_in": {"type": "integer"},
        "qr": {"type": "string", "description": "the link as a QR code, an SVG data: URI"},
    },
}
EXTRA_PATHS.update(
    {
        "/api/user/device-link": {
            "post": op(
                "A single-use link (and QR code), valid 10 minutes, that gives another "
                "browser this visitor's identity; open it and confirm there",
                "user",
                ok="201",
                data=LINK,
            )
        },
        "/api/user/delete": {
            "post": op(
                "Delete every task, file and the record of this visitor, and the identity "
                'cookie; the body must be {"confirm": true}',
                "user",
                body={
                    "type": "object",
                    "required": ["confirm"],
                    "properties": {"confirm": {"type": "boolean", "const": True}},
                },
                data={
                    "type": "object",
                    "properties": {
                        "deleted": {"type": "boolean"},
                        "tasks_deleted": {"type": "integer"},
                    },
                },
            )
        },
    }
)
