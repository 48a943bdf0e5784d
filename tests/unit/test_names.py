"""Names that become paths (shared/names.py) and the `current` pointers that hold them."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.errors import InvalidName
from shared.names import check_name, child_path
from shared.pointer import current_version_dir, read_pointer, write_pointer


@pytest.mark.parametrize("name", ["b20261125-101500-abc123", "v1", "20261125-1015-ab12cd34",
                                  "mde_docs-20261125-101500-abcdef", "a" * 128, "x.html", "a..b"])
def test_names_the_project_makes_are_valid(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "/etc", ".hidden", "-x", "a\\b",
                                  "a\x00b", "é", "a" * 129, "a b", "x\n"])
def test_names_that_could_be_paths_are_refused(name: str) -> None:
    """Fault: traversal, absolute paths, hidden or temp files, separators, NUL, non-ASCII."""
    with pytest.raises(InvalidName):
        check_name(name, "build")
    with pytest.raises(InvalidName):
        child_path(Path("/tmp"), name)


def test_child_path_refuses_a_link_that_leads_out(tmp_path: Path) -> None:
    """Fault: a valid name whose folder is a symlink to somewhere else (the second wall)."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "inside").mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    assert child_path(root, "inside") == root.resolve() / "inside"
    with pytest.raises(InvalidName, match="outside"):
        child_path(root, "link")


def test_a_pointer_that_names_a_path_is_refused(tmp_path: Path) -> None:
    """Fault: a `current` file edited to `../..` must not steer a load or a delete outside."""
    (tmp_path / "v1").mkdir()
    write_pointer(tmp_path, "v1")
    assert read_pointer(tmp_path) == "v1" and current_version_dir(tmp_path) == tmp_path / "v1"
    (tmp_path / "current").write_text("../..\n")
    with pytest.raises(InvalidName):
        read_pointer(tmp_path)
    with pytest.raises(InvalidName):
        write_pointer(tmp_path, "..")
