"""Which model scores the embedding judge's naturalness term, and what the report says about it.

Its own module so that the report (squeeze/diagnose/report.py) and the pipeline
(squeeze/diagnose/pipeline.py) can both use it without importing each other.
"""

from __future__ import annotations

from pathlib import Path


def resolve_retain_model(path: str) -> Path:
    """A retain-only model: any model source (squeeze.lm.sources), a run folder (model/) or a
    train-original run (retain/)."""
    from squeeze.lm.sources import resolve_in_run

    return resolve_in_run(path, ("retain", "model"), what="retain model")


def with_naturalness_lm(spec, retain_model: str):
    """The judge spec with its naturalness LM made concrete (issue 10 item 3): `auto` is the
    command's retain model when it has one (it never saw the forget set, so it scores language,
    not memory), else the reference; `retain` is the retain model and needs one."""
    import dataclasses

    from squeeze.core.errors import ConfigError

    if spec.resolved_backend != "embedding" or spec.naturalness_lm not in ("auto", "retain"):
        return spec
    if not retain_model:
        if spec.naturalness_lm == "retain":
            raise ConfigError(
                "--judge-naturalness-lm retain needs --retain-model (a model that never saw the forget set)"
            )
        return dataclasses.replace(spec, naturalness_lm="reference")
    return dataclasses.replace(spec, naturalness_lm=str(resolve_retain_model(retain_model)))


def naturalness_note(cfg, judge_backend: str) -> dict:
    """What the report says about the naturalness LM: its name, and whether it saw the forget set."""
    if judge_backend != "embedding":
        return {"lm": None, "saw_forget_set": None, "note": f"the {judge_backend} judge scores naturalness itself"}
    lm = cfg.judge.naturalness_lm or "none"
    lm = "reference" if lm == "auto" else lm  # a command without a retain model
    retain = str(resolve_retain_model(cfg.retain_model)) if cfg.retain_model else None
    if (
        lm not in ("reference", "none")
        and retain
        and Path(lm).resolve() in (Path(retain).resolve(), Path(cfg.retain_model).resolve())
    ):
        lm = "retain"
    note = {
        "retain": "the retain model, which never saw the forget set: naturalness measures language, not memory",
        "reference": "the reference model, which saw the forget set: fluent answers with another value can score "
        "low; --retain-model (or --judge-naturalness-lm RETAIN_MODEL) measures language alone",
        "none": "no LM: repetition alone",
    }.get(lm, "a model given by path (make sure it never saw the forget set)")
    return {"lm": lm, "saw_forget_set": {"retain": False, "reference": True, "none": False}.get(lm), "note": note}
