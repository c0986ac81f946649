"""mkdocs hook: serve the pictures that the committed result pages link to.

The result pages under ``docs/experiments/results/`` include ``experiments/results/*.md`` as
they are, so their links (``fewshot.png``) must resolve beside them in the site.
"""

from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]


def on_files(files, config):
    for path in sorted(ROOT.glob("experiments/results/*.png")):
        files.append(File.generated(config, path.relative_to(ROOT).as_posix(), abs_src_path=str(path)))
    return files
