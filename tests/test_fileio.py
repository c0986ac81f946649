"""Writing files safely (nnzip.fileio): atomic writes and the checks that run before long work."""

import os
import stat

import pytest

from nnzip.errors import InputError
from nnzip.fileio import atomic_write, check_output_paths, writable_dir_problem


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
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(InputError, match="is not a regular file"):
        check_output_paths({"--output": tmp_path / "pipe"}, [src])
    check_output_paths({"--output": tmp_path / "new" / "deeper" / "p.csv", "--metrics-json": None}, [src])
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_writability_is_tested_by_writing(tmp_path, monkeypatch):
    # root ignores permission bits, so the check must try for real: simulate a read-only disk
    import nnzip.fileio as fileio

    def read_only(directory, name):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(fileio, "_create_temp", read_only)
    assert "Read-only file system" in writable_dir_problem(tmp_path)
    with pytest.raises(InputError, match="cannot be written.*Read-only"):
        check_output_paths({"--output": tmp_path / "p.csv"}, [])
