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
