"""Translations: complete, current catalogs; language from ?lang=, cookie, Accept-Language."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from mediacraft import create_app
from mediacraft.web.i18n import (
    BABEL_CFG,
    CACHE_SUBDIR,
    LANGUAGES,
    ROOT,
    TRANSLATIONS_DIR,
    catalog_dir,
    compile_catalogs,
)

from .conftest import TEST_PLUGINS

CATALOGS = sorted(TRANSLATIONS_DIR.glob("*/LC_MESSAGES/messages.po"))


def extract(tmp_path: Path) -> set[str]:
    """``pybabel extract`` of the templates and code into a temporary .pot; its msgids."""
    pot = tmp_path / "messages.pot"
    CommandLineInterface().run(
        ["pybabel", "-q", "extract", "-F", str(BABEL_CFG), "-k", "_l", "--no-location",
         "-o", str(pot), str(ROOT)]
    )  # fmt: skip
    with pot.open("rb") as fh:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}


def test_every_language_but_english_has_a_catalog() -> None:
    assert {p.parent.parent.name for p in CATALOGS} == set(LANGUAGES) - {"en"}


@pytest.mark.parametrize("po", CATALOGS, ids=lambda p: p.parent.parent.name)
def test_catalog_is_complete_and_current(po: Path, tmp_path: Path) -> None:
    extracted = extract(tmp_path)
    assert len(extracted) > 100  # the pages' strings were found
    with po.open("rb") as fh:
        catalog = read_po(fh)
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
    missing = sorted(extracted - ids)
    assert not missing, f"{po} lacks {missing}: run `flask --app app translate update`"
    stale = sorted(ids - extracted)
    assert not stale, f"{po} has messages no longer used: {stale}"
    untranslated = [m.id for m in catalog if m.id and not m.string]
    assert not untranslated, f"untranslated in {po}: {untranslated}"
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not fuzzy, f"fuzzy (unchecked) translations in {po}: {fuzzy}"


@pytest.mark.parametrize("po", CATALOGS, ids=lambda p: p.parent.parent.name)
def test_compiled_catalog_matches_the_po(po: Path, tmp_path: Path) -> None:
    compile_catalogs(TRANSLATIONS_DIR, tmp_path)
    mo = tmp_path / po.relative_to(TRANSLATIONS_DIR).with_suffix(".mo")
    with po.open("rb") as fh:
        source = {m.id: m.string for m in read_po(fh) if m.id and m.string}
    with mo.open("rb") as fh:
        compiled = {m.id: m.string for m in read_mo(fh) if m.id}
    assert compiled == source


def test_placeholders_survive_translation() -> None:
    for po in CATALOGS:
        with po.open("rb") as fh:
            catalog = read_po(fh)
        for message in catalog:
            if not message.id:
                continue
            errors = list(message.check(catalog))
            assert not errors, f"{message.id!r}: {errors}"


def test_catalogs_are_compiled_into_the_data_dir_not_the_source_tree(tmp_path: Path) -> None:
    before = sorted(p.name for p in TRANSLATIONS_DIR.rglob("*"))
    data = tmp_path / "data"
    app = create_app({"data_dir": data, "run_queue": False, "plugins": TEST_PLUGINS})
    cache = data / CACHE_SUBDIR
    assert app.config["BABEL_TRANSLATION_DIRECTORIES"] == str(cache.resolve())
    with (cache / "zh" / "LC_MESSAGES" / "messages.mo").open("rb") as fh:
        assert len(list(read_mo(fh))) > 100
    assert sorted(p.name for p in TRANSLATIONS_DIR.rglob("*")) == before  # nothing written
    response = app.test_client().get("/tasks?lang=zh")
    assert "我的任务" in response.get_data(as_text=True)


def test_a_catalog_is_compiled_again_only_when_its_po_is_newer(tmp_path: Path) -> None:
    source = tmp_path / "translations"
    (source / "zh" / "LC_MESSAGES").mkdir(parents=True)
    po = source / "zh" / "LC_MESSAGES" / "messages.po"
    po.write_bytes(CATALOGS[0].read_bytes())
    target = tmp_path / "cache"
    mo = target / "zh" / "LC_MESSAGES" / "messages.mo"
    assert compile_catalogs(source, target) == [mo]
    assert compile_catalogs(source, target) == []  # up to date: nothing to do
    os.utime(po, (mo.stat().st_mtime + 10, mo.stat().st_mtime + 10))
    assert compile_catalogs(source, target) == [mo]


def test_compiled_catalogs_alone_are_used_in_place(tmp_path: Path) -> None:
    """As installed from the wheel: no .po, so nothing to compile and nothing written."""
    installed = tmp_path / "translations"
    compile_catalogs(TRANSLATIONS_DIR, installed)
    data = tmp_path / "data"
    assert catalog_dir(data, installed) == installed
    assert not data.exists()


def h1(response) -> str:
    text = response.get_data(as_text=True)
    return text.split("<h1", 1)[1].split(">", 1)[1].split("</h1>", 1)[0]


def test_english_by_default(client) -> None:
    response = client.get("/tasks")
    assert h1(response) == "My tasks"
    assert '<html lang="en">' in response.get_data(as_text=True)


def test_accept_language(client) -> None:
    response = client.get("/tasks", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert h1(response) == "我的任务"
    assert '<html lang="zh-Hans">' in response.get_data(as_text=True)
    assert client.get_cookie("lang") is None  # only ?lang= stores a choice


def test_query_beats_cookie_beats_accept_language(client) -> None:
    zh = {"Accept-Language": "zh-CN"}
    response = client.get("/tasks?lang=en", headers=zh)
    assert h1(response) == "My tasks"
    assert any(c.startswith("lang=en") for c in response.headers.getlist("Set-Cookie"))
    # The cookie now wins over Accept-Language ...
    assert h1(client.get("/tasks", headers=zh)) == "My tasks"
    # ... and ?lang= wins over the cookie, and replaces it.
    assert h1(client.get("/tasks?lang=zh")) == "我的任务"
    assert h1(client.get("/tasks", headers={"Accept-Language": "en"})) == "我的任务"
    assert client.get_cookie("lang").value == "zh"


def test_unknown_language_falls_back(client) -> None:
    assert h1(client.get("/tasks?lang=xx", headers={"Accept-Language": "fr, de"})) == "My tasks"
    assert client.get_cookie("lang") is None


def test_navigation_and_switcher_in_chinese(client) -> None:
    text = client.get("/?lang=zh").get_data(as_text=True)
    for word in ("创建", "我的", "任务列表", "中文", "English"):
        assert word in text
    assert 'href="/?lang=en"' in text


def test_client_strings_are_translated(client) -> None:
    import json

    text = client.get("/tasks?lang=zh").get_data(as_text=True)
    block = text.split('<script type="application/json" id="i18n">', 1)[1].split("</script>")[0]
    strings = json.loads(block)
    assert strings["status"]["completed"] == "已完成"
    assert strings["no_tasks"] == "你还没有任务。"
    assert "{page}" in strings["page_of"]


def test_translate_cli_is_registered(runner) -> None:
    result = runner.invoke(args=["translate", "--help"])
    assert result.exit_code == 0
    for command in ("init", "update"):
        assert command in result.output

