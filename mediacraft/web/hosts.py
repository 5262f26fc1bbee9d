"""Which ``Host`` names the server answers for (Flask's ``TRUSTED_HOSTS``).

A page on another site can point a name it controls at 127.0.0.1 (DNS
rebinding) and have the visitor's browser talk to a MediaCraft running on
their machine as if it were same-origin. Refusing every ``Host`` the server
does not serve closes that door. ``MEDIACRAFT_TRUSTED_HOSTS`` lists the
names (a leading dot allows subdomains, ``*`` any name); by default they are
``localhost``, ``127.0.0.1`` and the address the server is bound to
(``MEDIACRAFT_BIND`` for gunicorn, ``MEDIACRAFT_HOST`` for ``python app.py``);
bound to every interface, the machine's own names and addresses.

Werkzeug cannot match bracketed IPv6 literals (``[::1]``): reach the server
by a name, or list ``*``.
"""

from __future__ import annotations

import logging
import socket

from ..config import Config

log = logging.getLogger(__name__)

LOCAL_NAMES = ("localhost", "127.0.0.1")
WILDCARDS = {"", "0.0.0.0", "::", "[::]", "*"}


def bind_hosts(raw: str) -> list[str]:
    """The host part of each address in ``raw`` (``unix:`` sockets have none)."""
    hosts = []
    for address in raw.replace(",", " ").split():
        if address.startswith(("unix:", "fd://")):
            continue
        if address.startswith("["):
            host = address[: address.find("]") + 1]
        elif address.count(":") > 1:
            host = address  # a bare IPv6 address
        else:
            host = address.rsplit(":", 1)[0] if ":" in address else address
        hosts.append(host)
    return hosts


def trusted_hosts(config: Config) -> list[str] | None:
    """The names to trust, or None for any (``*``)."""
    if config.trusted_hosts:
        return None if "*" in config.trusted_hosts else list(config.trusted_hosts)
    names = list(LOCAL_NAMES)
    for host in bind_hosts(f"{config.bind},{config.host}"):
        if host in WILDCARDS:
            names += _machine_names()
            log.warning(
                "Listening on every interface: answering only for %s; set "
                "MEDIACRAFT_TRUSTED_HOSTS to the names clients use",
                ", ".join(dict.fromkeys(names)),
            )
        elif not host.startswith("["):
            names.append(host)
    return list(dict.fromkeys(names))


def _machine_names() -> list[str]:
    names = [socket.gethostname(), socket.getfqdn()]
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        names += [str(info[4][0]) for info in infos]
    except OSError:
        pass
    return [n for n in names if n]


__all__ = ["bind_hosts", "trusted_hosts"]
