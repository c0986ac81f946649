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
