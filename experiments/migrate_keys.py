"""One-off: rename result files written before the run key named the test subsample and model parameters.

Until this change the runner keyed a run's file by the unit alone (dataset, model, variant,
shots, seed, ...), so a ``--limit-test`` quick run was later taken for the full run. This
script renames each old file to its new key only after checking that the file is what the
config would produce now: found under its old key, its recorded ``limit_test`` equal to the
config's, and (for models other than gzip-kNN) its recorded parameters equal to the config's
apart from ``n_jobs``. Any other file is reported and left where it is: it must be rerun.

    python -m experiments.migrate_keys full_data fewshot compressors leakage [--dry-run]
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from .runner import RESULTS_DIR, Runner, load_config

UNIT = ("dataset", "shots", "seed", "model", "variant", "remove_duplicates")


def _old_key(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def migrate(name: str, results_dir: Path = RESULTS_DIR, dry_run: bool = False) -> tuple[int, list[str]]:
    """Rename the verified files of experiment ``name``; return (renamed or already new, problems)."""
    cfg = load_config(name)
    runner = Runner(cfg, results_dir)
    ok, problems = 0, []
    for path in sorted(runner.runs_dir.glob("*.json")):
        record = json.loads(path.read_text())
        spec = {k: record[k] for k in UNIT}
        for extra in ("compressor", "search", "n_candidates"):  # spec fields of some runs only
            if extra in record:
                spec[extra] = record[extra]
        new = runner._path(spec)
        if path == new:
            ok += 1
            continue
        if not path.name.endswith(f"_{_old_key(spec)}.json"):
            problems.append(f"{path.name}: name matches neither the old nor the new key")
            continue
        want_limit = runner.test_limit(spec["dataset"])
        if record.get("limit_test") != want_limit:
            problems.append(f"{path.name}: limit_test {record.get('limit_test')} but the config gives {want_limit}")
            continue
        if record.get("status") == "ok" and spec["model"] != "gzip-knn":
            want = {"random_state": spec["seed"], **cfg.model_params.get(spec["model"], {})}
            got = {k: v for k, v in record.get("params", {}).items() if k != "n_jobs"}
            if got != {k: repr(v) for k, v in want.items()}:
                problems.append(f"{path.name}: parameters {got} but the config gives {want}")
                continue
        if new.exists():
            problems.append(f"{path.name}: {new.name} exists already")
            continue
        if not dry_run:
            path.rename(new)
        ok += 1
    return ok, problems


def main(argv: list[str]) -> int:
    dry_run = "--dry-run" in argv
    failed = False
    for name in [a for a in argv if a != "--dry-run"]:
        ok, problems = migrate(name, dry_run=dry_run)
        print(f"{name}: {ok} files {'would be ' if dry_run else ''}under the new key, {len(problems)} problems")
        for p in problems:
            print(f"  {p}")
        failed |= bool(problems)
    return int(failed)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
