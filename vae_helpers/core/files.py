"""Files written whole or not at all: a hidden temporary file, then ``os.replace``."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from .checks import check_writable_folder

__all__ = ["write_bytes_atomic"]


def write_bytes_atomic(path: Path, data: bytes, arg: str = "path") -> Path:
    """Write ``data`` to ``path`` through a hidden temporary file and ``os.replace``.

    Temporary files left by an earlier interrupted write of the same target are removed first.
    Errors name ``arg`` and the folder: a target that is a folder, a parent that is a file, or a
    folder that cannot be written.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"`{arg}` must be a file path, but {str(path)!r} is a folder. Received: {arg}={str(path)!r}")
    check_writable_folder(arg, path.parent, file=path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tag = hashlib.sha256(path.name.encode()).hexdigest()[:8]   # short: a 250-character name must still fit
        for stale in path.parent.glob(f".partial-{tag}-*.tmp"):
            stale.unlink(missing_ok=True)
        tmp = path.with_name(f".partial-{tag}-{uuid.uuid4().hex[:8]}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise OSError(exc.errno, f"Could not write {path} ({exc.strerror or exc}); check that the folder "
                                 f"{path.parent} is writable and has free space") from exc
    return path
