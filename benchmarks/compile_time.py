"""How long a first run compiles nnzip's numba kernels, and how long a later run loads them from numba's cache.

    python benchmarks/compile_time.py            # writes benchmarks/compile_time.md

Each round starts a fresh interpreter with an empty ``NUMBA_CACHE_DIR`` (a first run: every
kernel compiled, what ``nnzip classify`` announces as "compiling kernels, first run only") and
then a second one on the cache the first wrote (every later run). Both time ``nnzip.warmup()``
after ``import nnzip``; ``nnzip classify`` calls it before the clock of its reported seconds
starts, so neither time is in any figure nnzip reports.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import nnzip

OUT = Path(__file__).with_name("compile_time.md")
CHILD = """
import json, time
start = time.perf_counter()
import nnzip
from nnzip.index import kernels_need_compiling
imported = time.perf_counter() - start
compiling = kernels_need_compiling()
start, cpu = time.perf_counter(), time.process_time()
nnzip.warmup()
print(json.dumps({"import": imported, "warmup": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                  "compiling": compiling}))
"""


def _child(cache: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for r in range(args.repeat):
        with tempfile.TemporaryDirectory() as cache:
            first, later = _child(cache), _child(cache)
        assert first["compiling"] and not later["compiling"], (first, later)
        rows.append((first, later))
        print(f"round {r + 1}: first run {first['warmup']:.1f} s ({first['cpu']:.1f} s CPU), later run "
              f"{later['warmup']:.1f} s", flush=True)
    load = os.getloadavg()[0]
    cpu = platform.processor() or platform.machine()
    lines = [
        "# Compiling the kernels: a first run, and every later one",
        "",
        "`python benchmarks/compile_time.py` (this file is its output). Each round: a fresh interpreter with an",
        "empty `NUMBA_CACHE_DIR` times `nnzip.warmup()` (every kernel compiled), then a second one on the cache",
        "the first wrote (every kernel loaded). `nnzip classify` runs `warmup()` before its clock starts, so",
        "neither time is in the seconds it reports; on a first run it says \"compiling kernels, first run only\"",
        "and then how long compiling took.",
        "",
        f"nnzip {nnzip.__version__}, Python {platform.python_version()}, {cpu}, {os.cpu_count()} cores, "
        f"load average {load:.1f} when the script ended (a machine shared with other jobs).",
        "",
        "| round | first run: compile, wall (s) | its CPU time (s) | later run: load from cache (s) | "
        "import nnzip (s) |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {i + 1} | {f['warmup']:.1f} | {f['cpu']:.1f} | {lt['warmup']:.1f} | {f['import']:.1f} |"
              for i, (f, lt) in enumerate(rows)]
    best_first = min(f["warmup"] for f, _ in rows)
    best_later = min(lt["warmup"] for _, lt in rows)
    best_cpu = min(f["cpu"] for f, _ in rows)
    lines += ["", f"Best of {len(rows)}: compiling {best_first:.0f} s ({best_cpu:.0f} s of CPU time, which other jobs "
              f"on the machine do not stretch), loading {best_later:.1f} s.", ""]
    OUT.write_text("\n".join(lines))
    print(f"written to {OUT}")


if __name__ == "__main__":
    main()
