"""Writing files safely: one atomic-write helper, and the checks that run before long work.

Every file nnzip writes (predictions, figures, cache blocks, embeddings) goes through
:func:`atomic_write`: the content goes to a temporary file beside the target, which is then
renamed over it, so a crash or Ctrl-C never leaves a half-written file under the real name.
The temporary file is created with mode ``0o666`` filtered by the user's umask, like any file
``open(path, "w")`` creates (``tempfile.mkstemp`` would make it private, ``0o600``).

:func:`check_output_paths` and :func:`writable_dir_problem` let a command refuse a bad output
path *before* it computes anything, instead of failing after the work is done.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO

from .errors import InputError


def _create_temp(directory: Path, name: str) -> tuple[int, Path]:
    # O_EXCL: never reuse someone else's file; 0o666: the kernel applies the umask, as for open()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = directory / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def atomic_write(path: str | os.PathLike, write: Callable[[IO], None], *, binary: bool = False,
                 fsync: bool = False) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``.

    Missing parent folders are created. On any error (or ``KeyboardInterrupt``) the temporary
    file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or path
        The file to create or replace.
    write : callable
        Writes the content to the open file object it is given.
    binary : bool, default=False
        Open the file in binary mode; otherwise text, UTF-8, no newline translation.
    fsync : bool, default=False
        Flush the data to disk before the rename (for caches that must survive a power cut).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path.parent, path.name)
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")) as f:
            write(f)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def writable_dir_problem(directory: str | os.PathLike, *, create: bool = True) -> str | None:
    """Why files cannot be created in ``directory``, or ``None`` if they can.

    The test is real: a temporary file is created and removed. Permission bits alone would
    say nothing for root, nor for read-only mounts.

    Parameters
    ----------
    directory : str or path
        The folder.
    create : bool, default=True
        Create the folder (and missing parents) and test in it. With ``False`` nothing is
        created: the nearest existing ancestor is tested, where the missing folders would go.
    """
    directory = Path(directory)
    existing = next(p for p in (directory, *directory.parents) if p.exists() or p.is_symlink())
    if not existing.is_dir():
        return f"{existing} is not a folder" if existing == directory else f"{existing} is a file, not a folder"
    target = directory if create else existing
    try:
        if create:
            directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(target, "nnzip-write-test")
        os.close(fd)
        tmp.unlink()
    except OSError as exc:
        return f"cannot write in {target}: {exc.strerror or exc}"
    return None


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():  # resolve() follows symlinks, so a link to an input is caught
        return True
    try:
        return os.path.samefile(a, b)  # hard links
    except OSError:
        return False


def check_output_paths(outputs: Mapping[str, str | os.PathLike | None], inputs: Iterable[str | os.PathLike]) -> None:
    """Refuse output paths that would destroy an input or each other, or that cannot be written.

    Run before any work starts. Missing parent folders of an output are allowed (they are
    created when the file is written) as long as they can be created.

    Parameters
    ----------
    outputs : mapping
        Option name (for the message, e.g. ``"--output"``) to path; ``None`` entries are skipped.
    inputs : iterable of path
        Files that are read and must never be overwritten.

    Raises
    ------
    InputError
        If an output is an input (also through a symlink or hard link), two outputs are the same
        file, an output is a folder or a device, or its folder cannot be written.
    """
    given = [(name, Path(p)) for name, p in outputs.items() if p is not None]
    sources = [Path(p) for p in inputs]
    for i, (name, path) in enumerate(given):
        for src in sources:
            if _same_file(path, src):
                raise InputError(f"{name} {path} is an input file ({src}); refusing to overwrite it")
        for other_name, other in given[:i]:
            if _same_file(path, other):
                raise InputError(f"{name} and {other_name} are the same file ({path}); give each its own path")
        if path.is_dir():
            raise InputError(f"{name} {path} is a folder; give a file name")
        if path.exists() and not path.is_file():  # a device or pipe (/dev/stdout): a rename would replace it
            raise InputError(f"{name} {path} is not a regular file; give a file name")
        problem = writable_dir_problem(path.parent, create=False)
        if problem:
            raise InputError(f"{name} {path} cannot be written: {problem}")
