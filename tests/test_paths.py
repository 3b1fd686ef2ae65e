"""Paths are shown as the user named them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunegate.paths import display_path


def test_a_linked_suite_is_shown_under_the_folder_that_links_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "suites").mkdir()
    (tmp_path / "shared" / "voice.yaml").write_text("name: voice\n")
    (tmp_path / "suites" / "voice.yaml").symlink_to(tmp_path / "shared" / "voice.yaml")
    monkeypatch.chdir(tmp_path)
    assert display_path(Path("suites/voice.yaml")) == "suites/voice.yaml"
    assert display_path(tmp_path / "suites" / "voice.yaml") == "suites/voice.yaml"
    assert display_path(Path("/")) == "/"


def test_only_a_missing_path_or_a_regular_file_may_be_replaced(tmp_path: Path) -> None:
    import os

    from tunegate.paths import not_a_plain_file

    regular = tmp_path / "out.json"
    regular.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(regular)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert not_a_plain_file(tmp_path / "new.json") is None
    assert not_a_plain_file(regular) is None
    assert not_a_plain_file(link) == "is a link; name the file itself"
    assert "not a regular file" in (not_a_plain_file(fifo) or "")
    assert "not a regular file" in (not_a_plain_file(Path("/dev/null")) or "")
