"""A fast structural check of a GGUF file (header, metadata, tensor table, data size) so a missing,
foreign or truncated file is one line naming it before llama.cpp is asked to load it.

gguf.GGUFReader parses every metadata value with numpy (10 s for the 49k-token vocabulary here);
walking the same layout with struct takes milliseconds.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

SCALARS = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # GGUF value types
STRING, ARRAY = 8, 9


class Reader:
    def __init__(self, data: mmap.mmap) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def string(self) -> bytes:
        size = self.take("Q")
        if self.pos + size > len(self.data):
            raise ValueError("a string runs past the end of the file")
        self.pos += size
        return bytes(self.data[self.pos - size:self.pos])

    def skip_value(self, kind: int) -> None:
        if kind in SCALARS:
            self.pos += SCALARS[kind]
        elif kind == STRING:
            self.string()
        elif kind == ARRAY:
            item, count = self.take("I"), self.take("Q")
            if item in SCALARS:
                self.pos += SCALARS[item] * count
            else:
                for _ in range(count):
                    self.skip_value(item)
        else:
            raise ValueError(f"unknown metadata value type {kind}")


def data_end(path: Path) -> tuple[int, int]:
    """(bytes the tensor table needs, file size); raises ValueError on a malformed file."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        reader = Reader(data)
        if bytes(data[:4]) != b"GGUF":
            raise ValueError("not a GGUF file (bad magic)")
        reader.pos = 4
        reader.take("I")  # version
        tensors, fields = reader.take("Q"), reader.take("Q")
        alignment = 32
        for _ in range(fields):
            key, kind = reader.string(), reader.take("I")
            if key == b"general.alignment" and kind == 4:
                alignment = reader.take("I")
            else:
                reader.skip_value(kind)
        end = 0
        for _ in range(tensors):
            reader.string()
            dims = [reader.take("Q") for _ in range(reader.take("I"))]
            block, size = GGML_QUANT_SIZES[GGMLQuantizationType(reader.take("I"))]
            count = 1
            for dim in dims:
                count *= dim
            end = max(end, reader.take("Q") + count // block * size)
        start = -(-reader.pos // alignment) * alignment
        return start + end, len(data)


def check_gguf(path: str | Path, hint: str) -> str | None:
    """Why the file is not a loadable GGUF (missing, not GGUF, truncated), else None."""
    path = Path(path)
    if not path.is_file():
        return f"GGUF {path} does not exist: {hint}, or set MODEL__GGUF"
    try:
        needed, size = data_end(path)
    except struct.error:
        return f"GGUF {path} is corrupt (it ends inside its header): {hint}"
    except (ValueError, OSError, KeyError) as error:
        return f"GGUF {path} is corrupt ({error}): {hint}"
    if needed > size:
        return f"GGUF {path} is truncated ({size} of {needed} bytes): {hint}"
    return None
