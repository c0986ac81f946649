"""Every code example in the documentation (``docs/`` and the README) runs, and the site builds
with ``mkdocs build --strict``.

``python`` blocks of a page run in order in one fresh namespace per page; ``bash`` and
``console`` blocks run their commands in order, in one fresh folder per page: ``nnzip ...`` (or
``python -m nnzip ...``) through click's ``CliRunner``; in a ``console`` block the lines after a
``$ `` command are its expected output (``...`` stands for any text in a line, a line of only
``...`` for any lines), and the command must fail exactly when that output holds an ``Error:``
line. Everything runs in a folder holding the files the pages name (``train.tsv.gz``,
``test.tsv.gz``, ``train.csv``, ``test.csv``, ``new.txt``), made from the embedded BBC News split.

The docstring examples that the API pages show run as doctests. A table that a page quotes
from a result file (the README cannot include one) says so in the line above it,
``<!-- quoted from PATH -->``, and must stand in that file line for line.

A block that needs what a test run does not have says so in the line above it,
``<!-- needs: KIND -->``, and is skipped with the reason of its KIND in ``NEEDS``; ``data`` and
``cuda`` blocks run where the benchmark data or a GPU are present.
"""

from __future__ import annotations

import csv
import doctest
import gzip
import importlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from nnzip.cli import cli
from nnzip.data import load_bbc

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

NEEDS = {
    "install": "installs packages (pip): not run by the tests",
    "network": "needs the network",
    "cluster": "needs a running Dask scheduler and workers (tcp://HOST:8786)",
    "cuda": "needs an NVIDIA GPU and numba-cuda",
    "data": "needs the benchmark data (NNZIP_DATA_DIR)",
    "long": "runs for minutes to hours on the benchmark data (the commands behind the committed results)",
    "checkout": "runs development tools on the checkout itself (tests, lint, the committed result files)",
}
LANGS = {"python", "bash", "console", "text"}
FENCE = re.compile(r"^```(\w*)\s*$")
NEEDS_LINE = re.compile(r"^<!-- needs: (\w+) -->$")


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    code: str
    needs: str | None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a page, each with the ``needs`` annotation above it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1)
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        above = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        needs = NEEDS_LINE.match(above.strip())
        found.append(Block(page, start + 1, lang, "\n".join(lines[start + 1:end]) + "\n", needs and needs.group(1)))
        i = end + 1
    return found


PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
ALL_BLOCKS = [b for page in PAGES for b in blocks(page)]


def _cuda_available() -> bool:
    try:
        from numba import cuda
    except ImportError:
        return False
    return bool(cuda.is_available())


def skip_reason(block: Block) -> str | None:
    """Why the block cannot run here, or None when it can."""
    if block.needs is None:
        return None
    if block.needs == "data" and os.environ.get("NNZIP_DATA_DIR"):
        return None
    if block.needs == "cuda" and _cuda_available():
        return None
    return f"{block.where}: {NEEDS[block.needs]}"


@pytest.fixture(scope="module")
def example_files(tmp_path_factory) -> Path:
    """The files the pages' examples name, from a slice of the embedded BBC News split."""
    folder = tmp_path_factory.mktemp("docs_files")
    ds = load_bbc()

    def clean(t: str) -> str:
        return " ".join(t.split())

    train = [(y, clean(x)) for x, y in zip(ds.X_train[:240], ds.y_train[:240])]
    test = [(y, clean(x)) for x, y in zip(ds.X_test[:40], ds.y_test[:40])]
    for name, rows in (("train", train), ("test", test)):
        (folder / f"{name}.tsv.gz").write_bytes(gzip.compress("".join(f"{y}\t{x}\n" for y, x in rows).encode()))
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["body", "topic"])
            w.writerows((x, y) for y, x in rows)
    (folder / "new.txt").write_text("".join(x + "\n" for _, x in test[:10]), encoding="utf-8")
    return folder


@pytest.fixture
def workdir(example_files, tmp_path, monkeypatch) -> Path:
    for f in example_files.iterdir():
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_blocks_are_known():
    """Every block has a language the tests know, and every annotation a known kind."""
    assert ALL_BLOCKS, "no code blocks found under docs/"
    for b in ALL_BLOCKS:
        assert b.lang in LANGS, f"{b.where}: code block without a known language ({b.lang!r})"
        assert b.needs is None or b.needs in NEEDS, f"{b.where}: unknown annotation needs: {b.needs}"
        assert b.lang in {"python", "bash", "console"} or b.needs is None, f"{b.where}: annotation on a {b.lang} block"


PY_PAGES = sorted({b.page for b in ALL_BLOCKS if b.lang == "python"})


@pytest.mark.parametrize("page", PY_PAGES, ids=[str(p.relative_to(ROOT)) for p in PY_PAGES])
def test_python_examples(page, workdir):
    namespace: dict = {"__name__": "__docs__"}
    skipped = []
    for b in (b for b in blocks(page) if b.lang == "python"):
        reason = skip_reason(b)
        if reason:
            skipped.append(reason)
            continue
        exec(compile(b.code, b.where, "exec"), namespace)
    if skipped and len(skipped) == sum(b.lang == "python" for b in blocks(page)):
        pytest.skip("; ".join(skipped))


def commands(block: Block) -> list[tuple[str, str | None]]:
    """(command, expected output or None) of a bash or console block; continuation lines joined."""
    text = block.code.replace("\\\n", " ")
    if block.lang == "bash":
        return [(line, None) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    found: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            found.append((line[2:], []))
        else:
            assert found, f"{block.where}: console output before any $ command"
            found[-1][1].append(line)
    return [(cmd, "\n".join(out).strip("\n") + "\n" if any(out) else None) for cmd, out in found]


def run_command(command: str, where: str):
    argv = shlex.split(command, comments=True)
    env = {}
    while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", argv[0]):
        key, value = argv.pop(0).split("=", 1)
        env[key] = value
    if argv[:3] == ["python", "-m", "nnzip"]:
        argv = ["nnzip", *argv[3:]]
    assert argv and argv[0] == "nnzip", (
        f"{where}: the tests run only nnzip commands; annotate the block (<!-- needs: KIND -->) for {command!r}"
    )
    return CliRunner().invoke(cli, argv[1:], prog_name="nnzip", env=env, catch_exceptions=False)


def output_matches(want: str, got: str) -> bool:
    """Whether ``got`` is ``want`` line by line, where ``...`` in a line stands for any text in it
    and a line of only ``...`` for any number of lines (trailing spaces ignored)."""
    pattern = []
    for line in want.splitlines():
        if line.strip() == "...":
            pattern.append(r"(?:[^\n]*\n)*?")
        else:
            pattern.append(r"[^\n]*?".join(map(re.escape, line.rstrip().split("..."))) + r"\n")
    text = "".join(line.rstrip() + "\n" for line in got.splitlines())
    return re.fullmatch("".join(pattern), text) is not None


SHELL_PAGES = sorted({b.page for b in ALL_BLOCKS if b.lang in {"bash", "console"}})


@pytest.mark.parametrize("page", SHELL_PAGES, ids=[str(p.relative_to(ROOT)) for p in SHELL_PAGES])
def test_shell_examples(page, workdir):
    """The page's bash and console blocks, in order, in one folder (a later block may read what
    an earlier one wrote, as a reader following the page would)."""
    shell = [b for b in blocks(page) if b.lang in {"bash", "console"}]
    skipped = []
    for block in shell:
        reason = skip_reason(block)
        if reason:
            skipped.append(reason)
            continue
        cmds = commands(block)
        assert cmds, f"{block.where}: no commands"
        for command, want in cmds:
            result = run_command(command, block.where)
            if want is None:
                assert result.exit_code == 0, f"{block.where}: {command!r} failed:\n{result.output}"
                continue
            fails = any(line.startswith("Error:") for line in want.splitlines())
            assert (result.exit_code != 0) == fails, (
                f"{block.where}: {command!r} exit {result.exit_code}:\n{result.output}"
            )
            assert output_matches(want, result.output), (
                f"{block.where}: output of {command!r} differs from the page:\n--- page\n{want}--- actual\n"
                f"{result.output}"
            )
    if len(skipped) == len(shell):
        pytest.skip("; ".join(skipped))


def test_every_result_file_has_a_page():
    """Each committed results file (benchmarks/*.md, experiments/results/*.md) is a page of the
    site, at the same path under docs/, that includes it."""
    for result in sorted([*ROOT.glob("benchmarks/*.md"), *ROOT.glob("experiments/results/*.md")]):
        rel = result.relative_to(ROOT)
        page = DOCS / rel
        assert page.is_file(), f"{rel} has no page: add docs/{rel} including it, and a nav entry in mkdocs.yml"
        assert f'include-markdown "{"../" * len(rel.parts)}{rel.as_posix()}"' in page.read_text(encoding="utf-8")


def test_output_matches():
    assert output_matches("a ...\n...\nc\n", "a b\nx\ny\nc\n")
    assert output_matches("a ...\n...\nc\n", "a b  \nc\n")
    assert not output_matches("a\nc\n", "a\nb\nc\n")
    assert not output_matches("a ... z\n", "a b\nz\n")


QUOTED = re.compile(r"^<!-- quoted from (\S+) -->\n((?:\|.*\n)+)", re.M)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_quoted_tables_are_in_their_files(page):
    for source, table in QUOTED.findall(page.read_text(encoding="utf-8")):
        lines = (ROOT / source).read_text(encoding="utf-8").splitlines()
        rows = table.splitlines()
        assert any(lines[i:i + len(rows)] == rows for i in range(len(lines))), (
            f"{page.relative_to(ROOT)}: the table quoted from {source} is not in it (regenerated?): copy it again"
        )


def test_readme_quotes_a_table():
    assert QUOTED.search((ROOT / "README.md").read_text(encoding="utf-8")), "the README's headline table is unmarked"


def documented_modules() -> list[str]:
    """The modules whose docstrings the API pages show (``::: nnzip.X`` lines; ``baselines.X``,
    read from the checkout's folder, is ``nnzip.baselines.X`` once installed)."""
    found = set()
    for page in sorted((DOCS / "api").glob("*.md")):
        for ident in re.findall(r"^::: ([\w.]+)$", page.read_text(encoding="utf-8"), re.M):
            ident = re.sub(r"^baselines\.", "nnzip.baselines.", ident)
            try:
                found.add(importlib.import_module(ident).__name__)
                continue
            except ImportError:
                pass
            parent, name = ident.rsplit(".", 1)
            found.add(getattr(getattr(importlib.import_module(parent), name), "__module__", parent))
    return sorted(found)


@pytest.mark.parametrize("name", documented_modules())
def test_docstring_examples(name):
    """The examples in the docstrings that the API pages show run and print what they say."""
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} docstring examples failed"


def test_mkdocs_build_strict(tmp_path):
    plugins = ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_click", "mkdocs_include_markdown_plugin")
    for module in plugins:
        pytest.importorskip(module, reason=f"{module} is not installed (pip install -e '.[docs]')")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                       cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "site" / "api" / "classifiers" / "index.html").is_file()
