"""The web layer: the app factory and what it plugs into Flask.

``factory`` builds the app; ``pages`` renders the HTML pages, ``i18n`` picks
their language, ``identity`` gives each visitor a signed cookie,
``security`` sets the response headers and logging, ``secret_key`` keeps the
cookie-signing key, ``hosts`` the trusted ``Host`` names, ``request`` the
request class that spools uploads, and ``health`` answers ``/healthz``. The
JSON API is :mod:`mediacraft.api`; the work itself happens below both.
"""
