"""``python -m experiments run NAME`` / ``report NAME``: a thin click front end over the runner."""

from __future__ import annotations

import sys

import click

from nnzip.cli import scheduler_option
from nnzip.errors import NNZipError

from .config import load_config
from .report import build_report
from .runner import CACHE_DIR, RESULTS_DIR, Runner


def _warn(note: str) -> None:
    click.echo(f"Warning: {note}", err=True)


@click.group()
def main() -> None:
    """Run nnzip's experiments and build their tables and plots."""


@main.command()
@click.argument("config")
@click.option("--limit-test", type=click.IntRange(min=1),
              help="Quick mode: a seeded subsample of N test items per dataset.")
@click.option("--overwrite", is_flag=True, help="Recompute runs whose result file exists.")
@click.option("--results-dir", type=click.Path(file_okay=False), default=str(RESULTS_DIR), show_default=True)
@click.option("--cache-dir", type=click.Path(file_okay=False), default=str(CACHE_DIR), show_default=True)
@click.option("--model", "models", multiple=True, help="Run only this model of the config (repeatable).")
@click.option("--dataset", "datasets", multiple=True, help="Run only this dataset of the config (repeatable).")
@click.option("--shots", "shots", multiple=True, type=int, help="Run only this shot count of the config (repeatable).")
@scheduler_option
def run(config, limit_test, overwrite, results_dir, cache_dir, models, datasets, shots) -> None:
    """Run CONFIG (a name in experiments/configs or a TOML path), then build its report.

    --model/--dataset/--shots pick a part of the config; its result files are those a full run
    writes, so parts can run on different machines and be reported together.
    """
    try:
        cfg = load_config(config)
        argv = ["python", "-m", "experiments", *sys.argv[1:]]
        computed = Runner(cfg, results_dir, limit_test, overwrite, cache_dir, argv=argv,
                          models=models, datasets=datasets, shots=shots).run()
        paths = build_report(cfg.name, results_dir, say=_warn)
    except NNZipError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{computed} runs computed; wrote {', '.join(str(p) for p in paths)}")


@main.command()
@click.argument("name")
@click.option("--results-dir", type=click.Path(file_okay=False), default=str(RESULTS_DIR), show_default=True)
def report(name, results_dir) -> None:
    """Rebuild the tables and plots of experiment NAME from its result files."""
    try:
        paths = build_report(name, results_dir, say=_warn)
    except (OSError, NNZipError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {', '.join(str(p) for p in paths)}")


if __name__ == "__main__":
    main(prog_name="python -m experiments")
