"""The judge stage (`squeeze judge`): score the generations a run saved (DESIGN section 10).

Reads RUN/generations.jsonl (item_id, question, reference, generation, and any other fields)
and writes RUN/judgments.jsonl, one line per generation in the same order, the row's other
fields under "meta". The judge is `cfg.judge` (a JudgeSpec, built by squeeze.diagnose.judging).

    run(JudgeRunConfig(run="runs/npo"))
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from squeeze.core.config import option
from squeeze.diagnose.judging import JudgeSpec

REQUIRED = ("item_id", "question", "reference", "generation")


@dataclass
class JudgeRunConfig:
    run: str = option("", "run directory holding generations.jsonl", metavar="RUN")
    judge: JudgeSpec = option(JudgeSpec(), "the judge: backend and options (--judge BACKEND, --judge-<option>)")
    limit: int | None = option(None, "judge only the first N generations")
    max_unjudged: float = option(
        0.0, "exit 1 when more than this share of the items is left unjudged (default 0: any unjudged item fails)"
    )


def read_generations(path: Path, limit: int | None = None) -> list[dict]:
    from squeeze.core.errors import DataError

    if not path.is_file():
        raise DataError(f"{path}: not found (a run saves its generations there before it can be judged)")
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            missing = [key for key in REQUIRED if key not in row]
            if missing:
                raise DataError(f"{path}:{number}: missing field(s) {', '.join(missing)}")
            wrong = [key for key in REQUIRED[1:] if not isinstance(row[key], str)]
            if wrong:
                raise DataError(f"{path}:{number}: field(s) {', '.join(wrong)} must be strings")
            rows.append(row)
            if limit is not None and len(rows) >= limit:
                break
    if not rows:
        raise DataError(f"{path}: no generations to judge")
    return rows


def run(cfg: JudgeRunConfig) -> Path:
    """Judge `cfg.run`'s generations; returns the judgments file. Prints the failure counts."""
    from tqdm.auto import tqdm

    from judges import failure_counts
    from squeeze.core.errors import ConfigError
    from squeeze.core.failures import check_fraction, check_judged
    from squeeze.core.rundir import RunDir, write_jsonl
    from squeeze.diagnose.judging import check_spec, judge_item, opened_judge

    if not cfg.run:
        raise ConfigError("--run is required (the run directory holding generations.jsonl)")
    if cfg.limit is not None and cfg.limit < 1:
        raise ConfigError("--limit must be at least 1")
    max_unjudged = check_fraction("max_unjudged", cfg.max_unjudged)
    check_spec(cfg.judge)
    run_dir = RunDir(cfg.run)
    rows = read_generations(run_dir / "generations.jsonl", cfg.limit)
    items = [judge_item(row, row["generation"], str(row["item_id"])) for row in rows]
    with opened_judge(cfg.judge) as judge:
        with tqdm(total=len(items), desc=f"judging ({judge.backend})", unit="item") as bar:
            judgments = judge.judge(items, on_result=lambda index, judgment: bar.update(1))
    out = []
    for row, judgment in zip(rows, judgments, strict=False):
        line = judgment.to_dict()
        line["meta"] = {k: v for k, v in row.items() if k not in REQUIRED}
        out.append(line)
    write_jsonl(run_dir.judgments, out)
    counts = failure_counts(judgments)
    print(
        f"judged {counts['items']} generations with {judge.backend}/{judge.model} "
        f"({counts['cached']} from cache) -> {run_dir.judgments}\n"
        f"parse failures: {counts['unparsed_items']} items (similarity {counts['similarity_none']}, "
        f"naturalness {counts['naturalness_none']}); errors: {counts['errors']}"
    )
    check_judged(judgments, max_unjudged, "squeeze judge")  # written first: what failed can be read
    return run_dir.judgments
