"""`squeeze attack`: do a checkpoint's forgotten facts come back under attack? (issue 11)

The attack step of `squeeze diagnose --attacks` (squeeze.diagnose.attack_step) run on its own,
without the bins, scores and verdicts; the attacks themselves are squeeze/attacks/.

Loads the checkpoint (and the retain model, when given) once, builds the judge once (the
diagnose factory, the same disk cache), answers every forget question greedily (the
"before"), runs each attack (squeeze.attacks.*) and reads every attempt with the world's
oracle and the judge. Writes OUT/config.yaml, attacks.jsonl (one row per model, attack and
item), attacks.json (recovery rates with 95% intervals, settings, timings) and attacks.md.

    squeeze attack --model runs/demo/methods/npo --reference runs/demo/original --world runs/demo/world \\
        --retain-model runs/demo/original/retain --attacks relearn,quantize,rephrase,sample --out runs/npo-attack
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from squeeze.core.errors import ConfigError
from squeeze.diagnose.attack_config import AttackConfig


def as_diagnose_config(cfg: AttackConfig):
    """The DiagnoseConfig with this config's shared fields: the diagnose helpers read it."""
    from squeeze.diagnose.pipeline import DiagnoseConfig

    shared = {f.name for f in dataclasses.fields(DiagnoseConfig)} & {f.name for f in dataclasses.fields(AttackConfig)}
    return DiagnoseConfig(**{name: getattr(cfg, name) for name in shared})


def run(cfg: AttackConfig) -> Path:
    """Run the attacks of `cfg` and write every file; returns the output folder."""

    from squeeze.attacks.report import render_markdown
    from squeeze.attacks.settings import AttackSettings
    from squeeze.core.config import to_yaml
    from squeeze.core.rundir import RunDir, write_json, write_jsonl, write_text
    from squeeze.diagnose.attack_step import attack_checkpoint
    from squeeze.diagnose.inputs import checkpoint_tokenizer, load_inputs, resolve_checkpoint, run_config
    from squeeze.diagnose.judging import opened_judge
    from squeeze.diagnose.pipeline import diagnose_reference
    from squeeze.lm.models import load_model, load_tokenizer, resolve_original

    if not AttackSettings.of(cfg).attack_names():
        raise ConfigError("no attack given: pass --attacks relearn,quantize,rephrase,sample (or some of them)")
    from squeeze.lm.runtime import parse_batch_size, resolve_device, resolve_dtype

    device = resolve_device(cfg.device)  # auto|cpu|cuda|cuda:N, and auto|fp32|bf16|fp16 (issue 15)
    load = dict(device=device, dtype=resolve_dtype(cfg.dtype, device))
    batch_size = parse_batch_size(cfg.batch_size)
    dcfg = as_diagnose_config(dataclasses.replace(cfg, batch_size=batch_size))
    model_dir, run_dir = resolve_checkpoint(cfg.model)
    run_cfg = run_config(run_dir)
    if not (cfg.reference or run_cfg.get("original")):
        raise ConfigError("no reference model: give --reference (the original model the checkpoint was unlearned from)")
    reference_dir = resolve_original(cfg.reference or run_cfg["original"])
    inputs = load_inputs(dcfg, run_cfg)
    if cfg.out:
        out = Path(cfg.out)
    else:
        out = run_dir / "attack" if run_dir else model_dir.with_name(model_dir.name + "-attack")
    RunDir(out).create()
    (out / "attacks.json").unlink(missing_ok=True)  # a crash below must not leave an old summary beside new rows
    write_text(out / "config.yaml", to_yaml(cfg))

    tok = load_tokenizer(reference_dir)
    from squeeze.diagnose.naturalness import with_naturalness_lm

    cfg.judge = with_naturalness_lm(cfg.judge, cfg.retain_model)  # auto: the retain model when there is one
    needs_reference = cfg.judge.resolved_backend == "embedding" and cfg.judge.naturalness_lm == "reference"
    reference = load_model(reference_dir, **load).eval() if needs_reference else None
    model = load_model(model_dir, **load).eval()
    model_tok, _ = checkpoint_tokenizer(model_dir, tok, inputs["forget"])
    if batch_size == "auto":
        from squeeze.bins.binner import model_fingerprint
        from squeeze.lm.runtime import batch_size_for_records

        dcfg.batch_size = batch_size_for_records(
            model, model_tok, inputs["forget"], cfg.max_new_tokens, model_fingerprint(model_dir)
        )
        if cfg.progress:
            print(f"batch_size=auto: {dcfg.batch_size}")
    with opened_judge(cfg.judge, diagnose_reference(reference, tok, reference_dir) if reference else None) as judge:
        rows, block = attack_checkpoint(dcfg, model, model_tok, tok, inputs, judge, load)
    write_jsonl(out / "attacks.jsonl", rows)
    meta = {
        "model": str(model_dir),
        "reference_model": str(reference_dir),
        "retain_model": cfg.retain_model or None,
        "forget": inputs["forget_source"],
        "judge": f"{judge.backend} / {judge.model}",
    }
    write_json(out / "attacks.json", {**meta, **block})
    write_text(out / "attacks.md", render_markdown(block, meta))
    if cfg.progress:
        print(f"wrote {out}/attacks.md")
    return out
