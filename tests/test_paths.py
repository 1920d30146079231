"""Paths built from names stay inside their folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from twinworks.paths import file_in


def test_a_plain_name_lands_in_the_folder(tmp_path: Path) -> None:
    assert file_in(tmp_path, "cell.db") == (tmp_path / "cell.db").resolve()


@pytest.mark.parametrize("name", ["../escaped.db", "a/../../x.db", "/tmp/x.db", "..", ""])
def test_a_name_that_leaves_the_folder_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="inside"):
        file_in(tmp_path / "data", name)


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "link.db").symlink_to(tmp_path / "outside.db")
    with pytest.raises(ValueError, match="inside"):
        file_in(tmp_path / "data", "link.db")
