"""Names that come from a request, a CLI argument or a pointer file and become a path or a key.

One pattern for all of them (a build, an adapter or merge version, a page id's file), and a second
wall behind it: the joined path is resolved and must sit directly inside its root.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import StringConstraints

from shared.errors import InvalidName

# A letter or digit first (no ".", "..", hidden or temp files), then letters, digits, ".", "_", "-".
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_NAME = re.compile(NAME_PATTERN)

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]


def is_name(value: object) -> bool:
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def check_name(value: str, what: str = "name") -> str:
    """The value itself when it is a valid name, else InvalidName naming what it was for."""
    if not is_name(value):
        raise InvalidName(f"{what}: {value!r} is not a valid name (a letter or digit, then up to "
                          "127 letters, digits, '.', '_' or '-')")
    return value


def child_path(root: str | Path, name: str, what: str = "name") -> Path:
    """`root/name` for a valid name whose resolved path stays directly inside the resolved root."""
    check_name(name, what)
    base = Path(root).resolve()
    path = (base / name).resolve()
    if path.parent != base:  # a symlink inside root that leads elsewhere
        raise InvalidName(f"{what}: {name!r} leads outside {base}")
    return base / name
