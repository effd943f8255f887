"""Atomic output files (certificates, reports, JUnit XML, derivations, templates).

Readers of a path see either the old content or the whole new content, never a half-written file:
everything is written to a temporary name in the target's folder and renamed into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _publish_mode(path: str, directory: bool = False) -> None:
    """Give a temporary file (0600) or folder (0700) the mode a plain open() would have."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def _temp_copy(target: Path, data: bytes) -> str:
    """A complete, synced temporary file with ``data`` next to ``target``, with ordinary permissions."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _publish_mode(tmp)
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    target = Path(path)
    tmp = _temp_copy(target, data)
    try:
        os.replace(tmp, target)
    except BaseException:
        _unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def create_text_exclusive(path: str | os.PathLike, text: str) -> bool:
    """Create ``path`` with ``text`` only if it does not exist yet; False if it does.

    The content goes to a temporary file first and is hard-linked to the target name, which fails
    if the name exists, so the check and the creation are one atomic step (no overwrite race).
    """
    target = Path(path)
    tmp = _temp_copy(target, text.encode("utf-8"))
    try:
        os.link(tmp, target)
    except FileExistsError:
        return False
    finally:
        _unlink(tmp)
    return True


def write_page_with_folder(page: str | os.PathLike, text: str, folder: str | os.PathLike,
                           files: dict[str, bytes]) -> None:
    """Write a page (``text``) and a folder of files it links to (``files``: name -> bytes).

    The folder is built complete under a temporary name and renamed into place (an old folder of
    the same name is moved aside first and removed after), then the page is renamed into place.
    A reader never sees a partial folder or a partial page; a crash in between leaves the new
    folder next to the old page, whose links (same file names) still resolve.
    """
    page, folder = Path(page), Path(folder)
    parent = folder.parent
    tmpdir = tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=parent)
    old = None
    try:
        for name, data in files.items():
            if "/" in name or name.startswith("."):
                raise ValueError(f"bad file name {name!r}")
            with open(os.path.join(tmpdir, name), "wb") as fh:
                fh.write(data)
        _publish_mode(tmpdir, directory=True)
        if folder.exists():
            old = tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=parent)
            os.rmdir(old)
            os.rename(folder, old)
        try:
            os.rename(tmpdir, folder)
        except BaseException:
            if old is not None:
                os.rename(old, folder)
                old = None
            raise
        tmpdir = None
        write_text_atomic(page, text)
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
