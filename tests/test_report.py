"""The HTML report: self-contained, every class on it, untrusted texts escaped, and it loads in a real browser."""

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from nnzip.cli import cli
from nnzip.errors import MissingDependencyError
from nnzip.evaluate import DataSpec, classify
from nnzip.explain import DISTANCE_TIE_RULES

pytest.importorskip("jinja2", reason="the report extra is not installed")
pytest.importorskip("matplotlib", reason="the report extra is not installed")

EVIL = "<script>alert('x')</script> the cat sat on the mat"
CLASSES = ["pets", "money", "<b>sport</b>", "café & co"]
TEXTS = {
    "pets": ["the cat sat on the mat", "a dog chased the cat", "my kitten sleeps on the mat"],
    "money": ["stock markets fell sharply", "the bank raised interest rates", "shares rallied on earnings"],
    "<b>sport</b>": ["the striker scored twice", "a late goal won the match", "the team lost the final"],
    "café & co": ["espresso and croissants", "a latte with oat milk", "fresh coffee beans roasted"],
}


def write_tsv(path, rows):
    path.write_text("".join(f"{y}\t{x}\n" for y, x in rows), encoding="utf-8")
    return str(path)


@pytest.fixture
def report(tmp_path):
    train = write_tsv(tmp_path / "train.tsv", [(c, t) for c in CLASSES for t in TEXTS[c]])
    # misclassified on purpose: an evil pets-like text labelled money, and a coffee text labelled sport
    test = write_tsv(tmp_path / "test.tsv", [("money", EVIL), ("pets", "a cat on the mat"),
                                             ("<b>sport</b>", "coffee beans and a latte"), ("money", "the bank")])
    path = tmp_path / "report.html"
    ev = classify("gzip-knn", DataSpec(train, test), {"n_neighbors": 1}, report=path)
    assert ev.metrics["accuracy"] < 1
    return path


class Page(HTMLParser):
    """Tags, attributes and text of a page (html.parser: a parse error raises)."""

    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def test_report_is_self_contained_and_escaped(report):
    html = report.read_text(encoding="utf-8")
    page = parse(html)
    text = "".join(page.text)
    assert "script" not in page.tags and "<script>" not in html
    assert EVIL in text  # shown as text
    for c in CLASSES:
        assert c in text
    assert "<b>sport</b>" in text and "&lt;b&gt;sport&lt;/b&gt;" in html
    sources = [v for k, v in page.attrs if k in ("src", "href")]
    assert sources and all(v.startswith("data:image/png;base64,") for v in sources)
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:|//)", html)
    for section in ("figures", "per-class", "confusion", "leakage", "ties", "examples"):
        assert f'id="{section}"' in html
    assert 'class="k-query"' in html  # reused substrings highlighted


def test_unlabelled_and_non_knn_reports(tmp_path):
    train = write_tsv(tmp_path / "train.tsv", [(c, t) for c in CLASSES for t in TEXTS[c]])
    test = tmp_path / "test.txt"
    test.write_text("a cat on the mat\nthe bank\n", encoding="utf-8")
    path = tmp_path / "r.html"
    classify("gzip-knn", DataSpec(train, str(test)), {"n_neighbors": 1}, report=path)
    text = "".join(parse(path.read_text()).text)
    assert "predictions only" in text and "Predictions (" in text
    classify("tfidf-logreg", DataSpec(train, str(test)), {}, report=path)
    assert "Not a kNN model" in path.read_text()


@pytest.mark.parametrize("rule", ["split", "index"])
def test_report_shows_the_runs_distance_tie_figures(tmp_path, rule):
    # five copies of one text, two labels, for k=3 places: a tie at the k-th distance the order could decide
    tie = "the tie text nobody else has"
    rows = [(c, t) for c in CLASSES for t in TEXTS[c]] + [(c, tie) for c in ["money"] * 2 + ["pets"] * 3]
    train = write_tsv(tmp_path / "train.tsv", rows)
    test = write_tsv(tmp_path / "test.tsv", [("money", tie), ("pets", "a cat on the mat"), ("money", "the bank")])
    path, figures = tmp_path / "r.html", tmp_path / "m.json"
    ev = classify("gzip-knn", DataSpec(train, test), {"n_neighbors": 3, "distance_ties": rule}, report=path,
                  metrics_json=figures)
    order = json.loads(figures.read_text())["training_order"]
    assert order == ev.metrics["training_order"] and order["n_order_dependent"] >= 1
    html = path.read_text()
    text = " ".join("".join(parse(html).text).split())
    boundary = int((ev.tied.row_lengths > 3).sum())
    assert boundary >= 1 and f"{boundary} of 3 test texts have more training texts at their k-th distance" in text
    assert f'distance_ties="{rule}"' in text and DISTANCE_TIE_RULES[rule] in text
    table = re.search(r'<table id="tie-figures">(.*?)</table>', html, re.S).group(1)
    cells = re.findall(r'<td class="num">([^<]*)</td>', table)
    assert cells[:3] == [str(order["n_mixed_ties"]), str(order["n_order_dependent"]),
                         str(order["n_correctness_order_dependent"])]
    assert cells[3] == f"{order['accuracy_expected']:.4f}"
    assert cells[4] == f"[{order['accuracy_min_bound']:.4f}, {order['accuracy_max_bound']:.4f}]"
    # the misclassified tie text lists all five tied copies, marked, with their vote weights
    if ev.predictions[0] != "money":
        assert text.count("tied at the k-th") >= 5
    unlabelled = tmp_path / "test.txt"
    unlabelled.write_text(f"{tie}\nthe bank\n", encoding="utf-8")
    classify("gzip-knn", DataSpec(train, str(unlabelled)), {"n_neighbors": 3, "distance_ties": rule}, report=path)
    assert "needs test labels" in path.read_text()


def test_missing_report_extra_is_one_line_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "nnzip\[report\]"'):
        classify("gzip-knn", DataSpec("missing.tsv", "missing.tsv"), {}, report=tmp_path / "r.html")
    r = CliRunner().invoke(cli, ["classify", "--train", "missing.tsv", "--test", "missing.tsv", "--report",
                                 str(tmp_path / "r.html")], catch_exceptions=False)
    assert r.exit_code == 1 and r.output.startswith("Error: HTML reports need") and r.output.count("\n") == 1


def test_predict_report(tmp_path):
    train = write_tsv(tmp_path / "train.tsv", [(c, t) for c in CLASSES for t in TEXTS[c]])
    test = write_tsv(tmp_path / "test.tsv", [("money", EVIL), ("pets", TEXTS["pets"][0])])
    model, path = tmp_path / "m.nnzip", tmp_path / "r.html"
    run = CliRunner().invoke
    assert run(cli, ["fit", "--train", train, "-k", "1", "--model-out", str(model)]).exit_code == 0
    r = run(cli, ["predict", "--model", str(model), "--input", test, "--report", str(path)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    html = path.read_text()
    assert "<script>" not in html and "1</b> of 2 test texts occur verbatim" in html


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# appended to a copy of the page (the report itself has no script): after loading, every image
# must be decoded and every resource fetched must be inline
LOAD_CHECK = """<script>
window.addEventListener("load", function () {
  var bad = [];
  Array.prototype.forEach.call(document.images, function (img) {
    if (!img.complete || img.naturalWidth === 0) bad.push("image " + img.src.slice(0, 60));
  });
  performance.getEntriesByType("resource").forEach(function (e) {
    if (e.name.indexOf("data:") !== 0) bad.push("resource " + e.name);
  });
  var out = document.createElement("div");
  out.id = "load-check";
  out.textContent = bad.length ? "FAILED " + bad.join("; ") : "LOADED " + document.images.length + " images";
  document.body.appendChild(out);
});
</script>
"""


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)")
def test_report_loads_in_a_real_browser(report, tmp_path):
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}",
             "--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000"]
    url = report.resolve().as_uri()
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Uncaught" not in dom.stderr
    page = parse(dom.stdout)
    text = "".join(page.text)
    assert "script" not in page.tags  # the evil text stayed text in the browser's DOM
    assert EVIL in text
    for c in CLASSES:
        assert c in text
    assert any(k == "src" and v.startswith("data:image/png;base64,") for k, v in page.attrs)
    checked = tmp_path / "checked.html"
    checked.write_text(report.read_text(encoding="utf-8") + LOAD_CHECK, encoding="utf-8")
    loaded = subprocess.run([*flags, "--dump-dom", checked.as_uri()], capture_output=True, text=True, timeout=120)
    result = re.search(r'<div id="load-check">([^<]*)</div>', loaded.stdout)
    assert result is not None and result.group(1) == "LOADED 1 images", result and result.group(1)
    shot = tmp_path / "shot.png"
    done = subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1000,1400", url], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and shot.stat().st_size > 10_000  # a rendered page, not a blank one
