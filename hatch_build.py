"""Build hook: the top-level templates/ and translations/ go into the wheel.

The repository keeps ``templates/`` and the catalogs' ``.po`` sources in
``translations/`` at its top level. A wheel maps them into the package:
``mediacraft/templates/`` as they are, and ``mediacraft/translations/<lang>/
LC_MESSAGES/messages.mo`` compiled here from each ``.po`` (fuzzy entries left
out, as ``pybabel compile`` does), so an installed app never compiles or
writes anything in its install tree. An editable install gets neither: it
reads both directories in place (``mediacraft/web/resources.py``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class PackageDataHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        root = Path(self.root)
        build_data["force_include"][str(root / "templates")] = "mediacraft/templates"
        self._catalogs = tempfile.TemporaryDirectory(prefix="mediacraft-catalogs-")
        for lang, mo in compile_catalogs(root / "translations", Path(self._catalogs.name)):
            target = f"mediacraft/translations/{lang}/LC_MESSAGES/messages.mo"
            build_data["force_include"][str(mo)] = target

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        catalogs = getattr(self, "_catalogs", None)
        if catalogs is not None:
            catalogs.cleanup()


def compile_catalogs(source: Path, out: Path) -> list[tuple[str, Path]]:
    """Compile every ``<lang>/LC_MESSAGES/messages.po`` under ``source`` into ``out``."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    compiled = []
    for po in sorted(source.glob("*/LC_MESSAGES/messages.po")):
        lang = po.parent.parent.name
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        mo = out / lang / "messages.mo"
        mo.parent.mkdir(parents=True)
        with mo.open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        compiled.append((lang, mo))
    if not compiled:
        raise RuntimeError(f"no catalogs in {source}: the wheel would have no translations")
    return compiled
