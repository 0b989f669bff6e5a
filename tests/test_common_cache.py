"""The build's cache (atc/common/cache.py): one database of kinds of slots, one fingerprint policy."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from atc.common.cache import DB_NAME, Store, digest, files_digest, value_digest


def test_a_digest_tells_apart_lists_of_parts_with_the_same_bytes() -> None:
    assert digest("ab", "c") != digest("a", "bc") != digest("abc")
    assert digest("é") == digest("é".encode())
    assert digest("x") != digest("x", "")


def test_files_are_digested_by_name_and_content_in_name_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yml", tmp_path / "b.yml"
    first.write_text("one")
    second.write_text("two")
    before = files_digest([second, first], tmp_path)
    assert before == files_digest([first, second], tmp_path)
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "a.yml").write_text("one")
    (moved / "b.yml").write_text("two")
    assert files_digest((moved / "a.yml", moved / "b.yml"), moved) == before  # relative names: the checkout may move
    second.write_text("three")
    assert files_digest([first, second], tmp_path) != before
    second.unlink()
    assert files_digest([first, second], tmp_path) not in (before, files_digest([first], tmp_path))


def test_a_value_digest_depends_on_content_not_sharing() -> None:
    shared = ["x"]
    assert value_digest([shared, shared]) == value_digest([["x"], ["x"]])
    assert value_digest({"a": 1}) != value_digest({"a": 2})


def test_slots_of_a_kind_are_kept_by_digest_and_forgotten_when_not_kept(tmp_path: Path) -> None:
    store = Store(tmp_path, "page")
    store.put("one", b"d1", ("page one", []))
    store.put("two", b"d2", {"text": 2})
    store.close()
    other_kind = Store(tmp_path, "rule")
    other_kind.put("one", b"d1", "a rule")
    other_kind.close()
    store = Store(tmp_path, "page")
    assert store.get("one", b"d1") == ("page one", [])
    assert store.get("one", b"changed") is None
    assert store.get_many(["two", "three"]) == {"two": {"text": 2}}
    store.close(keep=["one"])
    store = Store(tmp_path, "page")
    assert store.get_many(["one", "two"]) == {"one": ("page one", [])}
    store.close()
    assert Store(tmp_path, "rule").get("one", b"d1") == "a rule"  # another kind is untouched by keep


def test_merged_slots_keep_what_another_build_stored_meanwhile(tmp_path: Path) -> None:
    first, second = Store(tmp_path, "conversions"), Store(tmp_path, "conversions")
    first.put_merged({"text": {"target-a": 1}})
    second.put_merged({"text": {"target-b": 2}, "other": {"target-a": 3}})
    assert first.get_many(["text", "other"]) == {"text": {"target-a": 1, "target-b": 2}, "other": {"target-a": 3}}
    first.close()
    second.close()


def test_one_database_replaces_the_two_former_ones(tmp_path: Path) -> None:
    for name in ("memo.sqlite3", "conversions.sqlite3", "memo.sqlite3-wal"):
        (tmp_path / name).write_bytes(b"an older atc's cache")
    Store(tmp_path, "rule").close()
    assert sorted(path.name for path in tmp_path.iterdir() if not path.name.endswith(("-wal", "-shm"))) == [DB_NAME]


def test_a_corrupted_database_is_discarded_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store(tmp_path, "rule")
    store.put("one", b"d", "value")
    store.close()
    (tmp_path / DB_NAME).write_bytes(b"not a database at all" * 100)
    store = Store(tmp_path, "rule")
    assert store.get("one", b"d") is None
    store.close()
    assert "the cache is unreadable" in capsys.readouterr().err
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"


def test_templates_compiled_once_are_read_back_and_an_edited_template_is_compiled_again(tmp_path: Path) -> None:
    from atc.render.escape import template_environment

    templates, compiled = tmp_path / "templates", tmp_path / "compiled"
    templates.mkdir()
    (templates / "page.md.j2").write_text("# {{ title | md }}\n", encoding="utf-8")
    first = template_environment(templates, compiled).get_template("page.md.j2").render(title="A *b*")
    kept = sorted(compiled.iterdir())
    assert first == "# A \\*b\\*\n" and len(kept) == 1
    written = kept[0].stat().st_mtime_ns
    time.sleep(0.02)
    assert template_environment(templates, compiled).get_template("page.md.j2").render(title="A *b*") == first
    assert kept[0].stat().st_mtime_ns == written  # read back, not compiled and written again
    (templates / "page.md.j2").write_text("## {{ title | md }}\n", encoding="utf-8")
    assert template_environment(templates, compiled).get_template("page.md.j2").render(title="A *b*") == "## A \\*b\\*\n"
