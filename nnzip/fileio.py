"""Writing files safely: one atomic-write helper, where an output goes, and the checks that run before long work.

Every file nnzip writes (predictions, figures, cache blocks, embeddings) goes through
:func:`atomic_write`: the content goes to a temporary file beside the target, which is then
renamed over it, so a crash or Ctrl-C never leaves a half-written file under the real name.
The rename only ever replaces a regular file: a symbolic link is followed to the file it names,
and anything else (a device, a pipe, a folder) is never replaced. The temporary file is created
with mode ``0o666`` filtered by the user's umask, like any file ``open(path, "w")`` creates
(``tempfile.mkstemp`` would make it private, ``0o600``), and its name is never longer than the
folder allows when the target's own name fits.

An output given by a user (:func:`write_output`) may also be ``-`` (stdout), or a pipe, the
terminal or another character device (``/dev/stdout``, ``/dev/null``): those are streams,
written straight, never renamed over.

:func:`check_output_paths` and :func:`writable_dir_problem` let a command refuse a bad output
path *before* it computes anything, instead of failing after the work is done.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO

from .errors import InputError

#: The output name that means standard output.
STDOUT = "-"
_TEMP_EXTRA = len(".") + len(".") + 12 + len(".tmp")  # ".{name}.{12 hex digits}.tmp"


def _name_max(directory: Path) -> int:
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def _temp_name(directory: Path, name: str) -> str:
    """A fresh temporary name beside ``name``: never longer than the folder allows if ``name`` itself fits."""
    raw = os.fsencode(name)
    room = _name_max(directory) - _TEMP_EXTRA
    if len(raw) > room:  # keep the start of the name, cut on a character boundary
        raw = raw[: max(room, 0)]
        name = raw.decode(sys.getfilesystemencoding(), errors="ignore") or "nnzip"
    return f".{name}.{secrets.token_hex(6)}.tmp"


def _create_temp(directory: Path, name: str) -> tuple[int, Path]:
    # O_EXCL: never reuse someone else's file; 0o666: the kernel applies the umask, as for open()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = directory / _temp_name(directory, name)
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def _name_too_long(path: Path) -> bool:
    """Whether a part of ``path`` is longer than its file system allows, even where folders do not exist yet."""
    existing = next((p for p in path.absolute().parents if p.is_dir()), Path("/"))
    return any(len(os.fsencode(part)) > _name_max(existing) for part in path.parts)


def _stat(path: Path, *, follow: bool = True) -> os.stat_result | None:
    """``os.stat`` (or ``lstat``), ``None`` when nothing is there; other problems (a name too long) raise."""
    try:
        return os.stat(path) if follow else os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _regular_target(path: Path) -> Path:
    """The file a rename may replace for ``path``: the file a symlink names; refuse anything not a regular file."""
    if (st := _stat(path, follow=False)) is not None and stat.S_ISLNK(st.st_mode):
        path = Path(os.path.realpath(path))
    if (st := _stat(path)) is not None and not stat.S_ISREG(st.st_mode):
        raise FileExistsError(errno.EEXIST, "not a regular file; refusing to replace it", str(path))
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[IO], None], *, binary: bool = False,
                 fsync: bool = False) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``.

    Missing parent folders are created. On any error (or ``KeyboardInterrupt``) the temporary
    file is removed and ``path`` is left as it was. A symbolic link is followed: the file it
    names is replaced, never the link.

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

    Raises
    ------
    FileExistsError
        If ``path`` exists and is not a regular file (a folder, a device, a pipe): it is never
        replaced. (An ``OSError``, as every other failure to write: callers handle them alike.)
    """
    path = _regular_target(Path(path))
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


def _stdout_id() -> tuple[int, int] | None:
    try:
        st = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real stdout (a test runner's capture, a closed stream)
        return None
    return st.st_dev, st.st_ino


def output_kind(path: str | os.PathLike) -> str:
    """Where an output goes: ``"stdout"``, ``"stream"`` (written straight) or ``"file"`` (written atomically).

    ``"stdout"``: ``-``, or a path that is this process's standard output (``/dev/stdout``, or
    the file stdout is redirected to). ``"stream"``: a pipe (FIFO), the terminal or another
    character device. ``"file"``: a regular file, a link to one, or nothing yet.

    Raises
    ------
    InputError
        For a folder, anything else that is not a regular file (a socket, a block device), or
        a name the system cannot take (too long).
    """
    if os.fspath(path) == STDOUT:
        return "stdout"
    try:
        st = _stat(Path(path))
        if st is None and _name_too_long(Path(path)):  # under a folder still to be created
            raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), os.fspath(path))
    except OSError as exc:
        raise InputError(f"{path}: {os_error_reason(exc)}") from None
    if st is None:
        return "file"
    if (st.st_dev, st.st_ino) == _stdout_id():
        return "stdout"
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode):
        return "stream"
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path} is a folder; give a file name")
    raise InputError(f"{path} is not a regular file, a pipe or a terminal; give a file name")


def write_output(path: str | os.PathLike, write: Callable[[IO], None], *, binary: bool = False) -> None:
    """Write an output a user named: to stdout for ``-``, straight to a stream, else atomically.

    See :func:`output_kind`. A stream gets the content only once ``write`` is called (at the
    end of a job): nothing is written, and nothing is renamed over it, before.
    """
    kind = output_kind(path)
    if kind == "stdout":
        stream = sys.stdout.buffer if binary else sys.stdout
        write(stream)
        stream.flush()
    elif kind == "stream":
        with open(path, "wb") if binary else open(path, "w", encoding="utf-8", newline="") as f:
            write(f)
    else:
        atomic_write(path, write, binary=binary)


def os_error_reason(exc: OSError) -> str:
    """What an ``OSError`` about a path means, in words for a message (a name too long says so plainly)."""
    if exc.errno == errno.ENAMETOOLONG:
        return "the name is too long for the file system (at most 255 bytes a name on most)"
    return exc.strerror or str(exc)


def writable_dir_problem(directory: str | os.PathLike, *, create: bool = True,
                         name: str = "nnzip-write-test") -> str | None:
    """Why files cannot be created in ``directory``, or ``None`` if they can.

    The test is real: the temporary file that writing ``name`` there would use is created and
    removed. Permission bits alone would say nothing for root, nor for read-only mounts.

    Parameters
    ----------
    directory : str or path
        The folder.
    create : bool, default=True
        Create the folder (and missing parents) and test in it. With ``False`` nothing is
        created: the nearest existing ancestor is tested, where the missing folders would go.
    name : str, default="nnzip-write-test"
        The name of the file to be written (its temporary sibling is what is tried).
    """
    directory = Path(directory)
    try:
        existing = next(p for p in (directory, *directory.parents) if _stat(p, follow=False) is not None)
    except OSError as exc:
        return f"cannot write in {directory}: {os_error_reason(exc)}"
    if not existing.is_dir():
        return f"{existing} is not a folder" if existing == directory else f"{existing} is a file, not a folder"
    target = directory if create else existing
    try:
        if create:
            directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(target, name)
        os.close(fd)
        tmp.unlink()
    except OSError as exc:
        return f"cannot write in {target}: {os_error_reason(exc)}"
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
    created when the file is written) as long as they can be created. ``-`` means stdout, and
    a pipe or terminal is written straight (see :func:`output_kind`); only one output may go
    to stdout.

    Parameters
    ----------
    outputs : mapping
        Option name (for the message, e.g. ``"--output"``) to path; ``None`` entries are skipped.
    inputs : iterable of path
        Files that are read and must never be overwritten.

    Raises
    ------
    InputError
        If an output is empty, an input (also through a symlink or hard link), the same file
        as another output, a folder or something else that is not a regular file, a pipe or
        a terminal, has a name too long (its own, or its temporary sibling's), or its folder
        cannot be written; or if two outputs go to stdout.
    """
    given = [(name, p) for name, p in outputs.items() if p is not None]
    for name, p in given:
        if os.fspath(p) == "":
            raise InputError(f"{name} is empty; give a file name, or {STDOUT} for stdout")
    kinds = []
    for name, p in given:
        try:
            kinds.append(output_kind(p))
        except InputError as exc:
            raise InputError(f"{name} {exc}") from None
    to_stdout = [name for (name, _), kind in zip(given, kinds) if kind == "stdout"]
    if len(to_stdout) > 1:
        raise InputError(f"{' and '.join(to_stdout)} both go to stdout; give all but one of them a file name")
    sources = [Path(p) for p in inputs]
    files = [(name, Path(p), kind) for (name, p), kind in zip(given, kinds) if kind != "stdout"]
    for i, (name, path, kind) in enumerate(files):
        for src in sources:
            if _same_file(path, src):
                raise InputError(f"{name} {path} is an input file ({src}); refusing to overwrite it")
        for other_name, other, _ in files[:i]:
            if _same_file(path, other):
                raise InputError(f"{name} and {other_name} are the same file ({path}); give each its own path")
        if kind == "file":
            target = _regular_target(path)
            problem = writable_dir_problem(target.parent, create=False, name=target.name)
            if problem:
                raise InputError(f"{name} {path} cannot be written: {problem}")
