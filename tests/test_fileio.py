"""Writing files safely (nnzip.fileio): atomic writes and the checks that run before long work."""

import io
import os
import socket
import stat
import sys
import threading

import pytest

from nnzip.errors import InputError
from nnzip.fileio import atomic_write, check_output_paths, output_kind, writable_dir_problem, write_output


def test_outputs_get_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "a" / "p.csv", lambda f: f.write("x"))
        os.umask(0o077)
        atomic_write(tmp_path / "q.csv", lambda f: f.write("x"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a" / "p.csv").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "q.csv").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "p.csv", "q.csv"]  # no temporary file left


def test_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "p.csv"
    target.write_text("old")

    def boom(f):
        f.write("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, boom)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["p.csv"]


def test_output_path_checks(tmp_path):
    src = tmp_path / "in.tsv"
    src.write_text("a\tb\n")
    os.link(src, tmp_path / "hard.tsv")
    with pytest.raises(InputError, match="is an input file"):
        check_output_paths({"--output": tmp_path / "hard.tsv"}, [src])
    with pytest.raises(InputError, match="is a folder"):
        check_output_paths({"--output": tmp_path}, [src])
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        with pytest.raises(InputError, match=r"^--output .*sock is not a regular file, a pipe or a terminal"):
            check_output_paths({"--output": tmp_path / "sock"}, [src])
    with pytest.raises(InputError, match="^--metrics-json is empty; give a file name, or - for stdout$"):
        check_output_paths({"--metrics-json": ""}, [src])
    os.mkfifo(tmp_path / "pipe")
    check_output_paths({"--output": tmp_path / "pipe", "--metrics-json": "-"}, [src])  # a stream, and stdout
    check_output_paths({"--output": tmp_path / "new" / "deeper" / "p.csv", "--metrics-json": None}, [src])
    assert not (tmp_path / "new").exists()  # checking creates nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hard.tsv", "in.tsv", "pipe", "sock"]


def test_writability_is_tested_by_writing(tmp_path, monkeypatch):
    # root ignores permission bits, so the check must try for real: simulate a read-only disk
    import nnzip.fileio as fileio

    def read_only(directory, name):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(fileio, "_create_temp", read_only)
    assert "Read-only file system" in writable_dir_problem(tmp_path)
    with pytest.raises(InputError, match="cannot be written.*Read-only"):
        check_output_paths({"--output": tmp_path / "p.csv"}, [])


# ---- where an output goes: stdout, a stream, or a regular file ---------------------------------


def _read_fifo(path) -> tuple[threading.Thread, list[bytes]]:
    """A reader on the far end of a FIFO, as a shell pipeline would be (open blocks until both ends are open)."""
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(open(path, "rb").read()), daemon=True)
    reader.start()
    return reader, got


def test_a_link_to_a_pipe_is_written_straight_never_replaced(tmp_path):
    # /dev/stdout under `> file | cmd` is a symlink to a pipe: the same shape, built in tmp_path
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "stdout").symlink_to(tmp_path / "fifo")
    assert output_kind(tmp_path / "stdout") == "stream"
    check_output_paths({"--output": tmp_path / "stdout"}, [])
    reader, got = _read_fifo(tmp_path / "fifo")
    write_output(tmp_path / "stdout", lambda f: f.write("id,predicted\n0,pets\n"))
    reader.join(timeout=10)
    assert got == [b"id,predicted\n0,pets\n"]
    assert (tmp_path / "stdout").is_symlink() and stat.S_ISFIFO((tmp_path / "fifo").stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "stdout"]  # no temporary file left


def test_the_rename_replaces_only_regular_files(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(FileExistsError, match="not a regular file; refusing to replace it"):
        atomic_write(tmp_path / "fifo", lambda f: f.write("x"))
    assert stat.S_ISFIFO((tmp_path / "fifo").stat().st_mode)
    (tmp_path / "d").mkdir()
    with pytest.raises(FileExistsError):
        atomic_write(tmp_path / "d", lambda f: f.write("x"))
    # a link to a regular file: the file it names is replaced, the link stays a link
    (tmp_path / "real.csv").write_text("old")
    (tmp_path / "link.csv").symlink_to("real.csv")
    atomic_write(tmp_path / "link.csv", lambda f: f.write("new"))
    assert (tmp_path / "link.csv").is_symlink() and (tmp_path / "real.csv").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "fifo", "link.csv", "real.csv"]


def test_dash_is_stdout_and_only_one_output_may_go_there(tmp_path, monkeypatch):
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
    monkeypatch.setattr(sys, "stdout", out)
    write_output("-", lambda f: f.write("a,b\r\n"))
    assert out.buffer.getvalue() == b"a,b\r\n"
    assert not (tmp_path / "-").exists() and not os.path.exists("-")
    with pytest.raises(InputError, match="^--output and --metrics-json both go to stdout"):
        check_output_paths({"--output": "-", "--metrics-json": "-"}, [])


def test_a_path_that_is_stdout_counts_as_stdout(tmp_path, monkeypatch):
    # stdout redirected to a file (`> p.csv`) and --output p.csv: one stream, so written to it, not renamed over
    target = tmp_path / "p.csv"
    with target.open("w") as f:
        monkeypatch.setattr(sys, "stdout", f)
        assert output_kind(target) == "stdout"
        with pytest.raises(InputError, match="both go to stdout"):
            check_output_paths({"--output": target, "--metrics-json": "-"}, [])


def test_long_names_are_refused_before_the_work_and_temporary_names_fit(tmp_path):
    longest = "p" * 251 + ".csv"  # 255 bytes: fits; ".<name>.<12 hex>.tmp" would not, so it is shortened
    check_output_paths({"--output": tmp_path / longest}, [])
    atomic_write(tmp_path / longest, lambda f: f.write("x"))
    assert [p.name for p in tmp_path.iterdir()] == [longest]
    atomic_write(tmp_path / longest, lambda f: f.write("y"))  # replacing it uses a shortened temporary name too
    assert (tmp_path / longest).read_text() == "y" and len(list(tmp_path.iterdir())) == 1
    too_long = "q" * 256 + ".csv"
    with pytest.raises(InputError, match=r"^--output .*qqq\.csv: the name is too long for the file system"):
        check_output_paths({"--output": tmp_path / too_long}, [])
    for below in (tmp_path / too_long / "p.csv", tmp_path / "new" / too_long):  # also where no folder exists yet
        with pytest.raises(InputError, match="the name is too long"):
            check_output_paths({"--output": below}, [])
    assert "the name is too long" in writable_dir_problem(tmp_path / too_long)
