"""Saved models: one file per fitted model, safe to load and honest about what it is.

:func:`save_model` writes a fitted model with :mod:`skops.io` (scikit-learn's choice for safe
persistence: a zip of JSON and ``.npy`` members, never a pickle). :func:`load_model` reads it
back with an explicit list of trusted types, :data:`TRUSTED_TYPES`: nnzip's own estimators
and their parts, plus the types skops trusts by default (scikit-learn estimators, numpy
arrays and dtypes, Python containers and scalars) and scipy's CSR matrix. A file holding
any other type (a user's function, a class from elsewhere) is refused before anything in it
is built, and nothing in a model file is ever unpickled or executed.

Beside the skops payload the file holds ``nnzip-model.json``: the nnzip version, the model's
name, parameters (``distance_ties`` and the vote's other rules among them) and classes, the
versions of the libraries it ran with, the fingerprint of the code its predictions follow from
(:func:`nnzip.cache.code_fingerprint` of :data:`nnzip.cache.MODEL_CODE`, which covers the
runtime zlib's version too), and a *probe*: the model's outputs on a few of its training
texts. Loading compares all of it with this installation. A different code fingerprint is
refused (the results could differ); so is a probe that gives other outputs here (a library
or a compressor that computes differently). Other differences are reported as a warning. The
file also holds a digest of each training text (16 bytes of BLAKE2b), so that ``nnzip
predict`` can count test texts that were in the training set, without keeping the texts.

Kernel tables and the rerank first stage are not stored: they are rebuilt on load from the
training texts (:class:`nnzip.lengths.TrainingSide`), so a file holds no index arrays that a
numba kernel would read without bounds checks; what is stored is checked for consistency
after loading (:func:`check_fitted_state`).

The transformer baseline is saved through its own ``save``/``load`` (a folder of Hugging Face
files) with the same ``nnzip-model.json`` beside them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import tempfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator

from ._version import __version__
from .cache import MODEL_CODE, code_fingerprint
from .errors import ConfigError, DeviceError, InputError, MissingDependencyError
from .fileio import atomic_write
from .models import name_of

#: Version of the file layout; a file of another layout is refused.
FORMAT = 1
#: The zip member (or, for the transformer, the file in its folder) holding the header.
HEADER = "nnzip-model.json"
#: The zip member (or file) holding the training texts' digests, as a ``.npy`` array.
DIGESTS = "nnzip-training-digests.npy"
#: Training texts whose outputs are recorded as the probe.
PROBE_SIZE = 8
_DIGEST_BYTES = 16
_CSR = f"{sparse.csr_matrix.__module__}.{sparse.csr_matrix.__qualname__}"

#: Every type a model file may hold besides skops' defaults; nothing else is loaded.
TRUSTED_TYPES: tuple[str, ...] = (
    "nnzip.classifier.NCDKNeighborsClassifier",
    "nnzip.index.NCDIndex",
    "nnzip.lengths.TrainingSide",
    "nnzip.dictionary.ZstdDictionaryClassifier",
    "nnzip.baselines.bow.CountCosineKNN",
    "nnzip.baselines.bow.JaccardKNN",
    "nnzip.baselines.bow.TfidfLogReg",
    "nnzip.baselines.bow.TfidfSVM",
    "nnzip.baselines.bow._opitz_preprocess",  # JaccardKNN's tokenizer preprocessing
    "nnzip.baselines.embedding.EmbeddingKNN",
    _CSR,  # the bag-of-words kNN training matrices (checked in full after loading)
)
# libraries whose versions are recorded (results may depend on them; the probe tells)
_LIBRARIES = ("numpy", "scipy", "scikit-learn", "numba", "skops", "zstandard", "lz4", "torch", "transformers")


def environment() -> dict[str, str]:
    """Versions this installation runs with: nnzip, Python, zlib and :data:`_LIBRARIES` (those installed)."""
    env = {"nnzip": __version__, "python": platform.python_version(), "zlib": zlib.ZLIB_RUNTIME_VERSION}
    for lib in _LIBRARIES:
        try:
            env[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            pass
    return env


def text_digests(texts) -> np.ndarray:
    """16-byte BLAKE2b digest of each text's UTF-8 bytes, shape ``(n, 16)``: equal texts, equal rows."""
    out = np.empty((len(texts), _DIGEST_BYTES), dtype=np.uint8)
    for i, t in enumerate(texts):
        raw = t.encode("utf-8") if isinstance(t, str) else bytes(t)
        out[i] = np.frombuffer(hashlib.blake2b(raw, digest_size=_DIGEST_BYTES).digest(), dtype=np.uint8)
    return out


@dataclass
class SavedModel:
    """A model read from a file, with what the file says about it.

    Attributes
    ----------
    model : estimator
        The fitted model, ready to predict.
    header : dict
        The file's ``nnzip-model.json``: ``format``, ``model`` (name), ``params``, ``classes``,
        ``n_samples_fit``, ``environment``, ``code_fingerprint``, ``probe``.
    training_digests : ndarray of uint8 of shape (n_samples_fit, 16) or None
        :func:`text_digests` of the training texts, when the file has them.
    differences : list of str
        What differs between the file's environment and this one (reported as a warning).
    """

    model: BaseEstimator
    header: dict
    training_digests: np.ndarray | None = None
    differences: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The model's name (``"gzip-knn"``, ...)."""
        return self.header["model"]


# ---- probe: a few outputs recorded at save time, compared at load time --------------------------


def _probe_outputs(model: BaseEstimator, texts: list) -> dict:
    """What the model computes on ``texts`` that its predictions follow from.

    A compression kNN model: the compressed lengths of the texts alone and of every pair
    (exact integers, the whole input of its distances). A transformer: its predicted labels
    (its scores may move with the device). Any other model: predicted labels and scores.
    """
    index = getattr(model, "index_", None)
    if index is not None:
        from .pairwise import compressed_len, pairwise_compressed_len

        singles = compressed_len(texts, compressor=index.compressor)
        pairs = pairwise_compressed_len(texts, texts, compressor=index.compressor)
        return {"scores": np.concatenate([singles, pairs.ravel()]).astype(float).tolist()}
    out: dict = {"labels": np.asarray(model.predict(texts)).tolist()}
    if name_of(model) == "transformer":
        return out
    for method in ("predict_proba", "decision_function"):
        if hasattr(model, method):
            out["scores"] = np.asarray(getattr(model, method)(texts), dtype=float).ravel().tolist()
            break
    return out


def _probe_problem(model: BaseEstimator, probe: dict) -> str | None:
    """Why ``model`` does not reproduce the recorded probe here, or ``None`` if it does."""
    if not probe or not probe.get("texts"):
        return None
    got = _probe_outputs(model, probe["texts"])
    if probe.get("labels") is not None and got.get("labels") != probe["labels"]:
        return f"it predicts {got.get('labels')} for {len(probe['texts'])} of its training texts, not {probe['labels']}"
    want, have = probe.get("scores"), got.get("scores")
    if want is not None and (have is None or len(have) != len(want)
                             or not np.allclose(have, want, rtol=1e-9, atol=1e-12)):
        return "its scores (compressed lengths, probabilities) on a few of its training texts differ from then"
    return None


# ---- writing --------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)


def _header(model: BaseEstimator, name: str, probe: dict) -> dict:
    classes = getattr(model, "classes_", None)
    return {
        "format": FORMAT,
        "model": name,
        "estimator": f"{type(model).__module__}.{type(model).__name__}",
        "params": {k: _jsonable(v) for k, v in model.get_params(deep=False).items()},
        "classes": None if classes is None else np.asarray(classes).tolist(),
        "n_samples_fit": getattr(model, "n_samples_fit_", None),
        "environment": environment(),
        "code_fingerprint": code_fingerprint(MODEL_CODE),
        "probe": probe,
    }


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _untrusted(payload: bytes) -> list[str]:
    import skops.io as sio

    return sorted(set(sio.get_untrusted_types(data=payload)) - set(TRUSTED_TYPES))


def save_model(model: BaseEstimator, path: str | os.PathLike, *, training_texts=None) -> None:
    """Write a fitted model to ``path``, atomically.

    Parameters
    ----------
    model : estimator
        A fitted nnzip model (any of :data:`nnzip.models.MODELS`).
    path : str or path
        The file to write (for the transformer: a folder). An existing model there is replaced
        only once the new one is complete.
    training_texts : sequence of str or bytes, optional
        The texts the model was fitted on, in order. Their digests let ``predict`` find test
        texts that were in the training set, and a few of them become the probe. A model that
        keeps its texts (``gzip-knn``) needs none.

    Raises
    ------
    InputError
        If the model is not fitted, or holds something no nnzip model file may hold (a
        user's function as ``weights`` or ``compressor``): it could not be loaded safely.
    """
    name = name_of(model)
    if name is None:
        raise InputError(f"save_model saves nnzip's models; {type(model).__name__} is not one")
    if getattr(model, "classes_", None) is None:
        raise InputError(f"the {name} model is not fitted; fit it before saving it")
    texts = training_texts if training_texts is not None else getattr(model, "train_texts_", None)
    digests = None if texts is None else text_digests(texts)
    probe: dict = {}
    if texts is not None and len(texts) and getattr(model, "metric", None) != "precomputed":
        rows = np.sort(np.random.default_rng(0).choice(len(texts), min(PROBE_SIZE, len(texts)), replace=False))
        picked = [texts[i] if isinstance(texts[i], str) else bytes(texts[i]).decode("utf-8", "replace") for i in rows]
        probe = {"texts": picked, **_probe_outputs(model, picked)}
    header = _header(model, name, probe)
    if name == "transformer":
        _save_folder(model, Path(path), header, digests)
        return
    payload = _skops_dumps(model)
    untrusted = _untrusted(payload)
    if untrusted:
        raise InputError(
            f"the model holds {', '.join(untrusted)}, which a model file cannot hold safely (only nnzip's, "
            "scikit-learn's, numpy's and scipy's types are loaded); use a named compressor and weights")
    buf = io.BytesIO(payload)
    with zipfile.ZipFile(buf, "a") as zf:
        zf.writestr(HEADER, json.dumps(header, indent=1))
        if digests is not None:
            zf.writestr(DIGESTS, _npy(digests))
    def write(f) -> None:
        f.write(buf.getvalue())

    atomic_write(path, write, binary=True)


def _skops_dumps(model: BaseEstimator) -> bytes:
    try:
        import skops.io as sio
    except ImportError:  # a core dependency; only a broken installation lacks it
        raise MissingDependencyError('saving models needs skops: pip install "skops>=0.10"') from None
    return sio.dumps(model, compression=zipfile.ZIP_DEFLATED)


def _save_folder(model: BaseEstimator, path: Path, header: dict, digests: np.ndarray | None) -> None:
    """The transformer: its own ``save`` into a new folder beside ``path``, then renamed over it."""
    if path.exists() and not (path.is_dir() and (path / HEADER).is_file()):
        raise InputError(f"{path} exists and is not a saved transformer model; give a new folder name")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        model.save(tmp)
        (tmp / HEADER).write_text(json.dumps(header, indent=1), encoding="utf-8")
        if digests is not None:
            (tmp / DIGESTS).write_bytes(_npy(digests))
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---- reading --------------------------------------------------------------------------------


def _not_a_model(path: Path, why: str) -> InputError:
    return InputError(f"{path} is not an nnzip model file, or it is damaged ({why})")


def _parse_header(raw: bytes, path: Path) -> dict:
    try:
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _not_a_model(path, f"{HEADER} is not valid JSON") from None
    if not isinstance(header, dict) or not {"format", "model", "code_fingerprint"} <= set(header):
        raise _not_a_model(path, f"{HEADER} lacks the model's description")
    return header


def _load_digests(raw: bytes | None, path: Path) -> np.ndarray | None:
    if raw is None:
        return None
    try:
        digests = np.load(io.BytesIO(raw), allow_pickle=False)
    except ValueError:
        raise _not_a_model(path, f"{DIGESTS} is not a numpy array") from None
    if digests.dtype != np.uint8 or digests.ndim != 2 or digests.shape[1] != _DIGEST_BYTES:
        raise _not_a_model(path, f"{DIGESTS} has the wrong shape")
    return digests


def read_header(path: str | os.PathLike) -> dict:
    """The ``nnzip-model.json`` of a model file or folder, without loading the model.

    Raises
    ------
    InputError
        For a missing path, a folder that is not a saved transformer, or a file that is not
        an nnzip model.
    """
    return _open(Path(path))[0]


def _open(path: Path) -> tuple[dict, bytes | None, zipfile.ZipFile | None]:
    if not path.exists():
        raise InputError(f"model file not found: {path}")
    if path.is_dir():
        if not (path / HEADER).is_file():
            raise InputError(f"{path} is a folder, not an nnzip model file (only a saved transformer is a folder)")
        digests = (path / DIGESTS).read_bytes() if (path / DIGESTS).is_file() else None
        return _parse_header((path / HEADER).read_bytes(), path), digests, None
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _not_a_model(path, "not a zip archive" if isinstance(exc, zipfile.BadZipFile) else str(exc)) from None
    try:
        names = set(zf.namelist())
        if HEADER not in names:
            raise _not_a_model(path, f"no {HEADER} in it")
        header = _parse_header(zf.read(HEADER), path)
        digests = zf.read(DIGESTS) if DIGESTS in names else None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        zf.close()
        raise _not_a_model(path, str(exc)) from None
    except BaseException:
        zf.close()
        raise
    return header, digests, zf


def _differences(header: dict) -> list[str]:
    saved, here = header.get("environment", {}), environment()
    return [f"{lib} {saved.get(lib, 'absent')} then, {here.get(lib, 'absent')} here"
            for lib in sorted(set(saved) | set(here)) if saved.get(lib) != here.get(lib)]


def _check_compatible(header: dict, path: Path) -> list[str]:
    differs = _differences(header)
    diff_text = f" ({'; '.join(differs)})" if differs else ""
    if header["format"] != FORMAT:
        raise InputError(f"{path} is an nnzip model file of format {header['format']}; this nnzip "
                         f"({__version__}) reads format {FORMAT}{diff_text}. Refit the model with this version")
    here = code_fingerprint(MODEL_CODE)
    if header["code_fingerprint"] != here:
        saved = header.get("environment", {}).get("nnzip", "?")
        raise InputError(
            f"{path} was saved by nnzip {saved} with other kernel, search or voting code, or another zlib "
            f"(code fingerprint {str(header['code_fingerprint'])[:16]}, here {here[:16]}), so its predictions here "
            f"could differ{diff_text}. Refit it with this version (nnzip fit), or predict with nnzip {saved}")
    return differs


def open_model(path: str | os.PathLike, *, device: str | None = None) -> SavedModel:
    """Read a model file with everything it says (see :class:`SavedModel`); :func:`load_model` is the short form.

    Parameters
    ----------
    path : str or path
        A file written by :func:`save_model` (``nnzip fit``), or a transformer's folder.
    device : str, optional
        Where the loaded model computes: a gzip model's ``device`` (``"cpu"`` or ``"cuda"``; the
        same results on either), the transformer's torch device. Default: a gzip model keeps the
        device it was fitted with, the transformer takes CUDA when available.

    Raises
    ------
    InputError
        One line for each way a file can be unusable: missing, a folder, not an nnzip model,
        damaged, holding types nnzip does not trust, saved by other kernel or search code, or
        computing differently here (the probe).
    """
    path = Path(path)
    header, digests_raw, zf = _open(path)
    try:
        differences = _check_compatible(header, path)
        digests = _load_digests(digests_raw, path)
        if zf is None:
            model = _load_folder(path, header, device)
        else:
            model = _load_zip(zf, path, header)
    finally:
        if zf is not None:
            zf.close()
    check_fitted_state(model, path)
    if zf is not None and device is not None:  # a zip file: not the transformer, which took its device above
        if "device" not in model.get_params(deep=False):
            raise ConfigError(f"{path}: a {header.get('model')} model has no device to choose")
        model.set_params(device=device)
    if getattr(model, "index_", None) is not None:
        _check_device_here(model, path, given=device is not None)
    problem = _probe_problem(model, header.get("probe") or {})
    if problem:
        diff_text = f" ({'; '.join(differences)})" if differences else ""
        raise InputError(f"{path}: the model computes differently here than when it was saved: {problem}{diff_text}; "
                         "refit it here")
    if differences:
        warnings.warn(f"{path} was saved with {'; '.join(differences)}; its probe outputs agree here",
                      UserWarning, stacklevel=2)
    return SavedModel(model, header, digests, differences)


def _check_device_here(model: BaseEstimator, path: Path, *, given: bool) -> None:
    """A compression kNN model's device can run here: one error before any work, else none."""
    from .compressors import get_compressor
    from .lengths import check_device

    try:
        check_device(get_compressor(model.compressor), model.device)
    except (DeviceError, MissingDependencyError) as exc:
        if given:
            raise
        # the file keeps the device it was fitted on; say how to run it on this machine instead
        raise type(exc)(f"{exc} ({path} was fitted with device={model.device!r}; its results are the same on "
                        "the CPU: load it with device='cpu', nnzip predict --device cpu)") from None


def load_model(path: str | os.PathLike) -> BaseEstimator:
    """Read a fitted model written by :func:`save_model`, checked as :func:`open_model` describes.

    Examples
    --------
    >>> import tempfile, os
    >>> from nnzip import NCDKNeighborsClassifier, save_model, load_model
    >>> clf = NCDKNeighborsClassifier(n_neighbors=1).fit(["a cat on a mat", "stocks fell"], ["pets", "finance"])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.nnzip")
    >>> save_model(clf, path)
    >>> load_model(path).predict(["the cat sat on the mat"]).tolist()
    ['pets']
    """
    return open_model(path).model


def _load_zip(zf: zipfile.ZipFile, path: Path, header: dict) -> BaseEstimator:
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        model = sio.load(path, trusted=list(TRUSTED_TYPES))  # reads skops' own members only
    except UntrustedTypesFoundException as exc:
        raise InputError(f"{path} holds types nnzip does not load ({exc}); nnzip loads only the types it "
                         "writes itself, so this file was not written by nnzip or was altered") from None
    except (zipfile.BadZipFile, zlib.error, KeyError, IndexError, ValueError, TypeError, AttributeError, OSError,
            EOFError, ImportError) as exc:
        raise _not_a_model(path, f"{type(exc).__name__}: {str(exc)[:200]}") from None
    want = header.get("estimator")
    got = f"{type(model).__module__}.{type(model).__name__}"
    if got != want:
        raise _not_a_model(path, f"it holds a {got}, its description says {want}")
    return model


def _load_folder(path: Path, header: dict, device: str | None) -> BaseEstimator:
    from .baselines.transformer import TransformerClassifier

    if header["model"] != "transformer":
        raise _not_a_model(path, f"a folder, but its description says {header['model']!r}")
    try:
        return TransformerClassifier.load(path, device=device)
    except (OSError, ValueError, KeyError) as exc:
        raise _not_a_model(path, f"{type(exc).__name__}: {str(exc)[:200]}") from None


def check_fitted_state(model: BaseEstimator, path: str | os.PathLike = "the model") -> None:
    """Check that a loaded model's arrays fit together before anything indexes with them.

    Labels codes within the classes, one per training item; training sides, matrices and
    embeddings with one row per training item; sparse matrices checked in full (scipy's
    ``check_format(full_check=True)``), so that a crafted file cannot make compiled code read
    outside an array.

    Raises
    ------
    InputError
        Naming the inconsistency.
    """
    n = getattr(model, "n_samples_fit_", None)

    def bad(what: str) -> InputError:
        return _not_a_model(Path(path), what)

    classes = getattr(model, "classes_", None)
    if classes is None or np.ndim(classes) != 1 or len(classes) == 0:
        raise bad("no classes")
    codes = getattr(model, "_y", None)
    if codes is not None:
        codes = np.asarray(codes)
        out_of_range = bool(n) and (codes.min() < 0 or codes.max() >= len(classes))
        if codes.shape != (n,) or codes.dtype.kind not in "iu" or out_of_range:
            raise bad("its training labels do not match its classes")
    order = getattr(model, "_content_order", None)
    if order is not None:
        order = np.asarray(order)
        if (order.shape != (n,) or order.dtype.kind not in "iu"
                or not np.array_equal(np.sort(order), np.arange(order.size))):
            raise bad("its order of the training texts is not a permutation of them")
    index = getattr(model, "index_", None)
    if index is not None:
        side, m = index._side, index.n_distinct_
        if index.n_samples_fit_ != n or len(side) != m or np.shape(side.lengths) != (m,):
            raise bad("its training texts and lengths do not match its size")
    matrix = getattr(model, "train_matrix_", None)
    if matrix is not None:
        if not sparse.issparse(matrix) or matrix.shape[0] != n:
            raise bad("its training matrix does not match its size")
        try:
            matrix.check_format(full_check=True)
        except ValueError as exc:
            raise bad(f"its training matrix is inconsistent: {exc}") from None
    embeddings = getattr(model, "train_embeddings_", None)
    if embeddings is not None and (np.ndim(embeddings) != 2 or len(embeddings) != n):
        raise bad("its training embeddings do not match its size")
    dict_class = getattr(model, "dictionary_class_", None)
    if dict_class is not None:
        dict_class = np.asarray(dict_class)
        if (len(dict_class) != len(model.dictionaries_) or dict_class.dtype.kind not in "iu"
                or dict_class.min() < 0 or dict_class.max() >= len(classes)):
            raise bad("its dictionaries do not match its classes")
