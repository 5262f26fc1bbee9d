"""Languages of the pages: flask-babel, the locale selector and ``flask translate``.

The language comes from ``?lang=`` (remembered in a ``lang`` cookie), then that
cookie, then ``Accept-Language``; English otherwise. Catalogs live in the
top-level ``translations/`` directory (``translations/zh/LC_MESSAGES``).

Compiled catalogs: the repository holds only the ``.po`` sources. The wheel
carries them compiled (``hatch_build.py``); in a checkout,
:func:`catalog_dir` compiles them at start-up into ``<data dir>/cache/
translations`` when missing or older than their ``.po`` (written atomically,
so several gunicorn workers may do it at once). The running app never writes
into its source or install tree.

Updating the translations (see ``translations/README.md``)::

    flask --app app translate update    # pybabel extract + update
    # edit translations/zh/LC_MESSAGES/messages.po (the app compiles it when it starts)
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import click
from flask import Flask, g, request
from flask.wrappers import Response
from flask_babel import Babel, get_locale

from .resources import CHECKOUT_DIR, resource_dir

log = logging.getLogger(__name__)

ROOT = CHECKOUT_DIR
TRANSLATIONS_DIR = resource_dir("translations")
CACHE_SUBDIR = Path("cache") / "translations"
BABEL_CFG = ROOT / "babel.cfg"
POT_FILE = ROOT / "messages.pot"

DEFAULT_LOCALE = "en"
# code -> (name shown in the switcher, BCP 47 tag for <html lang>)
LANGUAGES: dict[str, tuple[str, str]] = {
    "en": ("English", "en"),
    "zh": ("中文", "zh-Hans"),
}
LANG_COOKIE = "lang"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600

babel = Babel()


def normalize_lang(value: str | None) -> str | None:
    """``zh-CN``, ``zh_Hans``, ``ZH`` -> ``zh``; unsupported -> None."""
    if not value:
        return None
    primary = value.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else None


def select_locale() -> str:
    """``?lang=`` > ``lang`` cookie > ``Accept-Language`` > English."""
    chosen = normalize_lang(request.args.get("lang"))
    if chosen:
        g.set_lang_cookie = chosen
        return chosen
    cookie = normalize_lang(request.cookies.get(LANG_COOKIE))
    if cookie:
        return cookie
    best = request.accept_languages.best_match(list(LANGUAGES))
    return normalize_lang(best) or DEFAULT_LOCALE


def current_lang() -> str:
    return normalize_lang(str(get_locale() or DEFAULT_LOCALE)) or DEFAULT_LOCALE


def lang_url(code: str) -> str:
    """The current page in language ``code`` (its other query arguments kept)."""
    from urllib.parse import urlencode

    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    args.append(("lang", code))
    return f"{request.path}?{urlencode(args)}"


def _remember_lang(response: Response) -> Response:
    # ``?lang=`` is read lazily (when a template asks for the locale); read it here too
    # so that a page answered without translation still stores the choice.
    chosen = getattr(g, "set_lang_cookie", None) or normalize_lang(request.args.get("lang"))
    if chosen and request.cookies.get(LANG_COOKIE) != chosen:
        response.set_cookie(
            LANG_COOKIE, chosen, max_age=LANG_COOKIE_MAX_AGE, samesite="Lax", path="/"
        )
    return response


def catalog_dir(data_dir: Path, source: Path = TRANSLATIONS_DIR) -> Path:
    """The directory flask-babel reads compiled catalogs from.

    Installed from a wheel, ``source`` holds compiled catalogs only and is
    used as it is. In a checkout it holds the ``.po`` sources, compiled into
    the data directory's cache (a read-only cache keeps the catalogs it has).
    """
    if not any(source.glob("*/LC_MESSAGES/messages.po")):
        return source
    cache = data_dir / CACHE_SUBDIR
    compile_catalogs(source, cache)
    return cache


def compile_catalogs(source: Path, target: Path) -> list[Path]:
    """Compile each ``source/<lang>/LC_MESSAGES/messages.po`` into the same place under
    ``target`` when that ``.mo`` is missing or older; returns the ones written."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(source.glob("*/LC_MESSAGES/messages.po")):
        mo = target / po.relative_to(source).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parent.parent.name)
        try:
            mo.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=mo.parent, prefix=".messages-", suffix=".mo")
            try:
                os.chmod(tmp, 0o644)  # mkstemp makes it private; a catalog is not
                with os.fdopen(fd, "wb") as out:
                    write_mo(out, catalog, use_fuzzy=False)
                os.replace(tmp, mo)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            log.warning("could not compile %s into %s: %s", po, mo, exc)
            continue
        written.append(mo)
    return written


def init_app(app: Flask, data_dir: Path) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(catalog_dir(data_dir))
    babel.init_app(app, locale_selector=select_locale)
    app.after_request(_remember_lang)

    @app.context_processor
    def language_context() -> dict:
        lang = current_lang()
        return {
            "current_lang": lang,
            "html_lang": LANGUAGES[lang][1],
            "languages": LANGUAGES,
            "lang_url": lang_url,
        }

    app.cli.add_command(translate)


# --- flask translate init|update (as microblog) ------------------------------------
def _pybabel(*args: str) -> None:
    command = [sys.executable, "-m", "babel.messages.frontend", *args]
    if subprocess.run(command, cwd=ROOT, check=False).returncode != 0:
        raise click.ClickException(f"pybabel {args[0]} failed")


def _extract() -> None:
    _pybabel("extract", "-F", str(BABEL_CFG), "-k", "_l", "--no-location", "--sort-output",
             "-o", str(POT_FILE), ".")  # fmt: skip


@click.group()
def translate() -> None:
    """Translation and localization commands."""


@translate.command()
@click.argument("lang")
def init(lang: str) -> None:
    """Start a new language."""
    _extract()
    try:
        _pybabel("init", "-i", str(POT_FILE), "-d", str(TRANSLATIONS_DIR), "-l", lang)
    finally:
        POT_FILE.unlink(missing_ok=True)


@translate.command()
def update() -> None:
    """Extract the messages and update every language's catalog."""
    _extract()
    try:
        _pybabel("update", "-i", str(POT_FILE), "-d", str(TRANSLATIONS_DIR),
                 "--no-fuzzy-matching", "--ignore-obsolete")  # fmt: skip
    finally:
        POT_FILE.unlink(missing_ok=True)

