"""Atomic `current` pointers: the published adapter (or merge) version is the text of a file that is
replaced by rename, so readers see the old version or the new one, never a torn write."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from shared.names import check_name, child_path

POINTER = "current"


def read_pointer(folder: str | Path) -> str | None:
    """The version `folder/current` names, or None when nothing is published."""
    path = Path(folder) / POINTER
    try:
        version = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    # a pointer edited by hand or torn by a bug must not lead outside its folder
    return check_name(version, f"{path}") if version else None


def write_pointer(folder: str | Path, version: str) -> None:
    """Point `folder/current` at version (which must be a subfolder) in one atomic rename."""
    folder = Path(folder)
    if not child_path(folder, version, "version").is_dir():
        raise FileNotFoundError(f"{folder / version} is not a published version folder")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".current-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(version + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, folder / POINTER)


def current_version_dir(folder: str | Path) -> Path | None:
    """The folder of the published version, if the pointer names one that exists."""
    version = read_pointer(folder)
    if version is None:
        return None
    path = child_path(folder, version, "version")
    return path if path.is_dir() else None
