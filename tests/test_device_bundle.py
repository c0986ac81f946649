"""experiments.device_bundle: texts cut exactly where the tokenizer stops, and an offline hub cache."""

import gzip
import lzma
import shutil

import pytest

transformers = pytest.importorskip("transformers", reason="the transformers extra is not installed")

from experiments import device_bundle  # noqa: E402
from nnzip.baselines import _hf  # noqa: E402
from nnzip.data import read_tsv  # noqa: E402

TEXTS = [
    "short text",
    "Übermäßig lange Wörter, punctuation!!! and numbers 1234567 " * 40,
    "unbelievably uncharacteristically antidisestablishmentarianism " * 30,
    "中文文本 mixed with English words and émojis 🙂 " * 25,
    "word " * 14 + "supercalifragilisticexpialidocious tail",
]


@pytest.fixture(scope="module")
def tokenizer():
    if _hf.bundled_minilm() is None:
        pytest.skip("the offline MiniLM package (tokenizer files) is not installed")
    return transformers.AutoTokenizer.from_pretrained(_hf.bundled_minilm())


@pytest.mark.parametrize("max_length", [8, 16, 64])
def test_cut_texts_give_the_same_tokens(tokenizer, max_length):
    cut = device_bundle._cut(tokenizer, TEXTS, max_length)
    full = tokenizer(TEXTS, truncation=True, max_length=max_length)["input_ids"]
    assert tokenizer(cut, truncation=True, max_length=max_length)["input_ids"] == full
    assert all(c == t[: len(c)] for c, t in zip(cut, TEXTS))  # prefixes
    assert cut[0] == TEXTS[0]  # nothing to cut
    assert sum(map(len, cut)) < sum(map(len, TEXTS)) // 3


def test_unpack_makes_data_files_and_an_offline_hub_entry(tmp_path, tiny_encoder):
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_encoder, bundle / "model")
    (bundle / "data" / "toy").mkdir(parents=True)
    (bundle / "data" / "toy" / "train.tsv.xz").write_bytes(lzma.compress(b"a\tfirst text\nb\tsecond text\n"))
    device_bundle.unpack(bundle, tmp_path / "out")
    path = tmp_path / "out" / "data" / "toy" / "train.tsv.gz"
    assert gzip.decompress(path.read_bytes()) == b"a\tfirst text\nb\tsecond text\n"
    assert read_tsv(path) == (["first text", "second text"], ["a", "b"])
    # HF_HOME=out/hf on the GPU machine; huggingface_hub reads it at import, so name the folder here
    model = transformers.AutoModel.from_pretrained(_hf.MINILM, cache_dir=tmp_path / "out" / "hf" / "hub")
    assert model.config.hidden_size == 32  # the tiny encoder, not the real MiniLM


CONFIG = """
datasets = ["toy"]
models = ["transformer"]
limit_test = 3
model_params.transformer = {{ model_name = "{minilm}" }}
model_params_for.transformer = {{ toy = {{ max_length = 16 }} }}
"""


def write_dataset(root, train, test):
    for split, rows in (("train", train), ("test", test)):
        (root / "toy").mkdir(parents=True, exist_ok=True)
        body = "".join(f"{label}\t{text}\n" for label, text in rows)
        (root / "toy" / f"{split}.tsv.gz").write_bytes(gzip.compress(body.encode()))


def test_pack_then_unpack_gives_the_runner_the_same_tokens(tmp_path, tokenizer, monkeypatch):
    from experiments.config import load_config
    from experiments.runner import Runner

    rows = [(f"c{i % 2}", f"text number {i} " + "with many more words in it " * (i % 4) * 5) for i in range(8)]
    write_dataset(tmp_path / "data", rows, rows[2:])
    monkeypatch.setenv("NNZIP_DATA_DIR", str(tmp_path / "data"))
    config = tmp_path / "toy.toml"
    config.write_text(CONFIG.format(minilm=_hf.MINILM))
    device_bundle.pack(tmp_path / "bundle", [str(config)])
    assert not (tmp_path / "bundle.part").exists()
    device_bundle.unpack(tmp_path / "bundle", tmp_path / "out")

    runner = Runner(load_config(config))
    full = runner._dataset("toy", None, 0)
    monkeypatch.setenv("NNZIP_DATA_DIR", str(tmp_path / "out" / "data"))
    cut = runner._dataset("toy", None, 0)
    # the runner's seeded subsample picks the same rows, and the model reads the same tokens
    assert cut.y_train == full.y_train and cut.y_test == full.y_test and len(cut.X_test) == 3
    for a, b in ((full.X_train, cut.X_train), (full.X_test, cut.X_test)):
        ids = [tokenizer(texts, truncation=True, max_length=16)["input_ids"] for texts in (a, b)]
        assert ids[0] == ids[1]
    assert sum(map(len, cut.X_train)) < sum(map(len, full.X_train))


def test_pack_refuses_a_cut_that_makes_a_duplicate(tmp_path, tokenizer, monkeypatch):
    shared = "the same long opening " * 20
    write_dataset(tmp_path / "data", [("a", shared + "ending one"), ("b", "other")], [("a", shared + "ending two")])
    monkeypatch.setenv("NNZIP_DATA_DIR", str(tmp_path / "data"))
    config = tmp_path / "toy.toml"
    config.write_text(CONFIG.format(minilm=_hf.MINILM))
    with pytest.raises(SystemExit, match="cutting changed which test texts have duplicates"):
        device_bundle.pack(tmp_path / "bundle", [str(config)])
    assert not (tmp_path / "bundle").exists()


def test_pack_texts_then_unpack_gives_the_same_datasets(tmp_path, monkeypatch, capsys):
    from nnzip.data import load_local

    rows = [(f"c{i % 3}", f"text {i} ünïcödé\x0c{'x' * i}\x85 end") for i in range(7)]
    write_dataset(tmp_path / "data", rows, rows[1:4])
    (tmp_path / "data" / "partial" / "tiny").mkdir(parents=True)  # a test set alone, as AG News
    (tmp_path / "data" / "partial" / "tiny" / "test.tsv.gz").write_bytes(gzip.compress(b"a\tonly a test set\n"))
    monkeypatch.setenv("NNZIP_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(SystemExit, match="no local dataset 'missing'"):
        device_bundle.pack_texts(tmp_path / "bundle", ["toy", "missing"])
    assert not (tmp_path / "bundle").exists() and not (tmp_path / "bundle.part").exists()
    device_bundle.pack_texts(tmp_path / "bundle", ["toy", "tiny"])
    assert not (tmp_path / "bundle" / "model").exists()
    device_bundle.unpack(tmp_path / "bundle", tmp_path / "out")
    assert "NNZIP_DATA_DIR=" in capsys.readouterr().out
    full = load_local("toy")
    monkeypatch.setenv("NNZIP_DATA_DIR", str(tmp_path / "out" / "data"))
    back = load_local("toy")
    assert (back.X_train, back.y_train) == (full.X_train, full.y_train)
    assert (back.X_test, back.y_test) == (full.X_test, full.y_test)
    assert read_tsv(tmp_path / "out" / "data" / "tiny" / "test.tsv.gz") == (["only a test set"], ["a"])


def test_unpack_refuses_a_folder_that_is_no_bundle(tmp_path):
    (tmp_path / "data").mkdir()
    with pytest.raises(SystemExit, match="not a bundle"):
        device_bundle.unpack(tmp_path, tmp_path / "out")
