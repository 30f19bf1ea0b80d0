"""What a diagnosis (or `squeeze attack`) reads: the checkpoint folder, its run's config, the
forget / retain / world-fact / holdout records, and the tokenizer to score them with.

`cfg` is any config with the data fields of squeeze.diagnose.pipeline.DiagnoseConfig
(forget, retain, world, limit, utility_items; world_facts and real_authors where it has them).
"""

from __future__ import annotations

from pathlib import Path

from squeeze.core.errors import ConfigError, DataError


def resolve_checkpoint(path: str) -> tuple[Path, Path | None]:
    """(model folder, run folder or None): a run folder holds model/; anything else is a model
    source (squeeze.lm.sources: a folder, a PEFT adapter, a .gguf file or GGUF name, a Hub id)."""
    from squeeze.lm.sources import is_model_folder, resolve_in_run

    root = Path(path)
    if root.is_dir() and not is_model_folder(root) and is_model_folder(root / "model"):
        return root / "model", root
    model_dir = resolve_in_run(path, (), what="model")
    # RUN/model given directly: still the run's (its config.yaml and dynamics_summary.json).
    is_run_model = model_dir.name == "model" and (model_dir.parent / "config.yaml").is_file()
    return model_dir, model_dir.parent if is_run_model else None


def run_config(run_dir: Path | None) -> dict:
    if run_dir is None or not (run_dir / "config.yaml").is_file():
        return {}
    from squeeze.core.config import load_yaml

    return load_yaml(run_dir / "config.yaml")


def _spread(records: list, k: int) -> list:
    if k <= 0 or len(records) <= k:
        return records
    return [records[int(i * len(records) / k)] for i in range(k)]


def _is_world(path: str) -> bool:
    return bool(path) and (Path(path) / "manifest.json").is_file()


def load_inputs(cfg, run_cfg: dict) -> dict:
    """forget / retain / world_facts / holdout records and the source names, limits applied.

    --world DIR (or --forget DIR naming a world) gives the forget, retain, world_facts and
    holdout splits and the facts; --forget FILE and --retain FILE take precedence over its
    splits. Without flags a run folder's config.yaml says where its data came from.
    """
    from squeeze.core.data import load_qa

    forget_src, retain_src = cfg.forget or "", cfg.retain or ""
    world_dir = cfg.world or (forget_src if _is_world(forget_src) else "")
    if not (world_dir or forget_src):  # a run folder's own data
        world_dir, forget_src = run_cfg.get("world") or "", run_cfg.get("forget") or ""
        retain_src = retain_src or run_cfg.get("retain") or ""
    world = None
    if world_dir:
        from squeeze.world.build import load_world

        world = load_world(world_dir)
    if forget_src and forget_src != world_dir:
        forget = load_qa(forget_src, allow_empty=True)
    elif world is not None:
        forget, forget_src = list(world.splits["forget"]), world_dir
    else:
        raise ConfigError("no forget set: give --forget FILE or --world DIR")
    if not forget:
        raise DataError(f"{forget_src}: the forget set is empty")
    if cfg.limit is not None:
        if cfg.limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {cfg.limit}")
        forget = forget[: cfg.limit]
    splits = world.splits if world is not None else {}
    facts = {r.id: r.fact for split in splits.values() for r in split}
    for r in forget:  # the world's facts fill in records that carry none
        r.fact = r.fact or facts.get(r.id)
    retain = load_qa(retain_src) if retain_src else list(splits.get("retain", []))
    # --world-facts / --real-authors (issue 15: TOFU's nine utility terms) replace the world's own.
    world_facts_src, real_authors_src = getattr(cfg, "world_facts", ""), getattr(cfg, "real_authors", "")
    world_facts = load_qa(world_facts_src) if world_facts_src else list(splits.get("world_facts", []))
    real_authors = load_qa(real_authors_src) if real_authors_src else []
    # utility_items 0 means every item; --limit caps it either way.
    cap = min(cfg.utility_items or cfg.limit, cfg.limit) if cfg.limit else cfg.utility_items
    return {
        "forget": forget,
        "forget_source": str(forget_src),
        "retain": _spread(retain, cap),
        "retain_source": str(retain_src or (world_dir if retain else "")) or None,
        "world_facts": _spread(world_facts, cap),
        "real_authors": _spread(real_authors, cap),
        "holdout": _spread(list(splits.get("holdout", [])), cap),
        "world": str(world_dir) or None,
    }


def check_same_tokenizer(reference_tok, other_tok, records, what: str) -> None:
    """Bins and log-probs compare token ids across models: the tokenizers must agree on every id."""
    from squeeze.lm.limits import check_same_vocabulary

    check_same_vocabulary(reference_tok, other_tok, what)


def checkpoint_tokenizer(model_dir: Path, reference_tok, records, what: str = "checkpoint"):
    """The folder's own tokenizer when it has one (checked against the reference's), else the reference's."""
    from squeeze.lm.models import ModelLoadError, load_tokenizer

    try:
        tok = load_tokenizer(model_dir)
    except ModelLoadError:
        return reference_tok, False
    check_same_tokenizer(reference_tok, tok, records, what)
    return tok, True
