"""`squeeze diagnose`: has a checkpoint really forgotten its forget set? (DESIGN section 10)

For any causal-LM checkpoint (an unlearning run folder with model/, or any Hugging Face
folder, e.g. one saved by plain `transformers`) against its reference (original) model:
1. bins of the reference's own beliefs for each forget question (squeeze.bins.binner), reused
   from OUT, from --bins, or from the run folder when their bins_meta.json matches;
2. the target and every bin candidate scored under both models (the tracker's scorer: the
   reference is "step 0", the checkpoint "step 1"), giving the per-bin log-prob change and
   the squeeze statistics of squeeze_stats between the two (squeeze peak = max(0, change of
   the high bin's mass); escape gap = change of the high mass minus change of the target);
3. greedy answers from the checkpoint (and the reference, for comparison);
4. the judge's Similarity (answer vs target) and Naturalness, through the disk cache;
5. each item's verdict (squeeze.diagnose.verdict), the oracle fact leakage where records carry facts;
6. the conventional metrics (squeeze.metrics.suite.tofu_metrics) and their aggregates.
Writes OUT/config.yaml, bins.jsonl, logprobs.parquet, generations.jsonl, judgments.jsonl,
metrics.json, report.json, report.md and figures/ (see squeeze.diagnose.report).

    squeeze diagnose --model runs/npo --world runs/world            # reference from the run's config
    squeeze diagnose --model ckpt/ --reference runs/original --forget forget.jsonl --out diag/
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from squeeze.core.config import option
from squeeze.core.errors import ConfigError
from squeeze.diagnose.inputs import checkpoint_tokenizer, load_inputs, resolve_checkpoint, run_config
from squeeze.diagnose.judging import JudgeSpec
from squeeze.diagnose.naturalness import resolve_retain_model
from squeeze.diagnose.options import DiagnoseOptions
from squeeze.lm.template_args import TemplateArgs

SCORE_CHUNK = 256  # forget items per scoring call (one progress tick each)
# What a diagnosis writes into OUT; removed when a new one starts. bins.jsonl and
# bins_meta.json stay: they are reused only when their meta matches the new settings.
OUTPUTS = (
    "config.yaml",
    "generations.jsonl",
    "judgments.jsonl",
    "logprobs.parquet",
    "metrics.json",
    "report.json",
    "report.md",
    "figures/verdicts.png",
    "figures/bin_logprob_change.png",
    "TOFU_EVAL.json",
    "TOFU_SUMMARY.json",
)


@dataclass
class DiagnoseConfig(DiagnoseOptions):
    model: str = option("", "checkpoint: an unlearning run folder (with model/) or any Hugging Face causal-LM folder")
    reference: str = option(
        "", "reference (original) model folder or train-original run; default: the run's config.yaml"
    )
    forget: str = option("", "forget set: QA file or world directory; default: --world, or the run's config")
    retain: str = option("", "retain set QA file for model utility; default: the world's retain split")
    world: str = option("", "world directory: forget/retain/world_facts splits and facts for the leakage oracle")
    retain_model: str = option("", "a model trained without the forget set, for forget quality and PrivLeak")
    retain_logs: str = option(
        "",
        "a retain model's TOFU_EVAL.json (OpenUnlearning's or ours) for forget quality and PrivLeak without its weights",
    )
    real_authors: str = option("", "TOFU real_authors QA file (with perturbed answers): three more model-utility terms")
    world_facts: str = option("", "world-facts QA file (TOFU world_facts); default: the world's world_facts split")
    preset: str = option("", "openunlearning-tofu: OpenUnlearning's TOFU evaluation settings (see README)")
    metric_convention: str = option(
        "squeeze", "ES/EM/Min-K% token conventions: squeeze (EOS scored, ceil) or openunlearning (EOS left out, int)"
    )
    min_k: float = option(0.4, "k of Min-K% (PrivLeak)")
    out: str = option("", "output folder; default: RUN/diagnose for a run folder, else <model>-diagnose")
    bins: str = option("", "a bins.jsonl (with bins_meta.json beside it) to reuse when its settings match")
    judge: JudgeSpec = option(JudgeSpec(), "the judge: backend and options (--judge BACKEND, --judge-<option>)")
    limit: int | None = option(None, "only the first N forget items (and at most N items of each utility split)")
    utility_items: int = option(200, "at most this many retain / world-fact items for utility (evenly spread); 0: all")
    candidates: int = option(20, "beam candidates per forget question for the bins")
    samples: int = option(0, "extra sampled candidates per question for the bins")
    answer_samples: int = option(
        4,
        "sampled answers (temperature 1) per forget item besides the greedy one: knowing gives the fact consistently, guessing does not",
    )
    max_new_tokens: int = option(
        128,
        "longest judged answer, in tokens: generation stops at end of sequence; a longer answer is cut off and never judged as complete",
    )
    bin_max_new_tokens: int = option(32, "longest bin candidate (beam search over the reference's answers), in tokens")
    batch_size: int | str = option(16, "prompts per generation / scoring batch, or auto (largest that fits, cached)")
    tau: float | None = option(None, "override: nats/token the target's mean log-prob must fall to leave `retained`")
    n_min: float | None = option(None, "override: Naturalness below this is `collapsed`")
    s_min: float | None = option(None, "override: Similarity at or above this: the answer conveys the fact")
    min_support: float | None = option(
        None, "override: share of sampled answers that must convey the fact too (knowing, not guessing)"
    )
    top_examples: int = option(5, "spurious items shown in report.md")
    device: str = option("auto", "auto (a GPU when there is one), cpu, cuda or cuda:N")
    dtype: str = option("auto", "weights' dtype: auto (bf16 on a GPU that has it, else fp32), fp32, bf16 or fp16")
    system_prompt: str = option(
        "",
        "a system prompt before every question (OpenUnlearning's Llama-3.2-Instruct configs: 'You are a helpful assistant.')",
    )
    template_args: TemplateArgs = option(
        TemplateArgs(),
        "OpenUnlearning's prompt-template arguments (--template-args MODEL_CONFIG.yaml, or --template-args-<field>)",
    )
    max_unjudged: float = option(0.05, "fail (exit 1, no report) when more than this share of items is unjudged")
    progress: bool = option(True, "progress bars")


# ---- bins ------------------------------------------------------------------------------------


def bins_meta(settings, limit, reference_dir: Path, records) -> dict:
    """The fields `squeeze bins` stores in bins_meta.json to decide reuse (same format)."""
    from squeeze.bins.binner import model_fingerprint

    data = hashlib.sha256(json.dumps([r.to_dict() for r in records], sort_keys=True).encode()).hexdigest()
    from squeeze.lm.prompting import active_template

    # Bins found under a system prompt or other template args are reused only under the same ones.
    template = (active_template() or TemplateArgs()).given()
    system = template.pop("system_prompt", None)
    return {
        "settings": settings.to_dict(),
        "limit": limit,
        "model_fingerprint": model_fingerprint(reference_dir),
        "data_fingerprint": data,
        **({"system_prompt": system} if system else {}),
        **({"template_args": template} if template else {}),
    }


def _matching_bins(path: Path, meta: dict) -> bool:
    from squeeze.core.rundir import read_json

    meta_path = path.with_name("bins_meta.json")
    if not (path.is_file() and meta_path.is_file()):
        return False
    stored = read_json(meta_path)
    return (
        all(stored.get(k) == v for k, v in meta.items())
        and stored.get("bins_sha256") == hashlib.sha256(path.read_bytes()).hexdigest()
    )


def ensure_bins(out: Path, places: list[Path], meta: dict, build) -> tuple[list, str]:
    """Bins from the first of OUT/bins.jsonl and `places` whose meta matches (copied into OUT),
    else `build()` written to OUT with its meta. Returns (bins, where they came from)."""
    import time

    from squeeze.bins.binner import load_bins
    from squeeze.core.rundir import atomic_path, write_json, write_jsonl

    target = out / "bins.jsonl"
    for path in [target, *places]:
        if _matching_bins(path, meta):
            if path != target:
                for name in ("bins.jsonl", "bins_meta.json"):
                    with atomic_path(out / name) as tmp:
                        shutil.copyfile(path.with_name(name), tmp)
            return load_bins(target), f"reused {path}"
    started = time.perf_counter()
    bins = build()
    write_jsonl(target, [b.to_dict() for b in bins])
    write_json(
        out / "bins_meta.json",
        {
            **meta,
            "bins_sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
            "n_items": len(bins),
            "seconds": time.perf_counter() - started,
        },
    )
    return bins, "built"


# ---- scoring under both models ---------------------------------------------------------------


def score_bins(model, tokenizer, bins, records, step: int, batch_size: int, progress: bool):
    """The long table (DYNAMICS_COLUMNS) of target + candidates under `model` at `step`, in
    chunks of SCORE_CHUNK items (one progress tick each), by the tracker's pure bin scorer."""
    import pandas as pd
    from tqdm.auto import tqdm

    from squeeze.track.scoring import BinScorer

    facts = {r.id: r.fact for r in records}
    frames, packed = [], True
    chunks = range(0, len(bins), SCORE_CHUNK)
    for start in tqdm(
        chunks, desc=f"scoring bins ({'reference' if step == 0 else 'checkpoint'})", disable=not progress, leave=False
    ):
        scorer = BinScorer(tokenizer, bins[start : start + SCORE_CHUNK], facts, max(64, batch_size), packed)
        frames.append(scorer.score(model, step))
        packed = scorer.packed  # a model that needs plain scoring is found on the first chunk
    return pd.concat(frames, ignore_index=True)


# ---- the judge -------------------------------------------------------------------------------


def diagnose_reference(reference_model, reference_tok, reference_dir: Path):
    """The reference model as the embedding judge's naturalness LM, named by its weights' hash
    so that the cache never mixes two different references."""
    from squeeze.bins.binner import model_fingerprint
    from squeeze.diagnose.judging import ReferenceLM

    return ReferenceLM(reference_model, reference_tok, f"{reference_dir.name}@{model_fingerprint(reference_dir)[:12]}")


def judge_answers(judge, rows: list[dict], progress: bool) -> list:
    """Judgments of the greedy answers, then of every sampled answer (rows' "samples")."""
    from tqdm.auto import tqdm

    from squeeze.diagnose.judging import judge_item

    items = [judge_item(r, r["generation"], r["item_id"]) for r in rows]
    items += [
        judge_item(r, text, f"{r['item_id']}#sample{j}") for r in rows for j, text in enumerate(r.get("samples", []))
    ]
    with tqdm(
        total=len(items), desc=f"judging ({judge.backend})", unit="item", disable=not progress, leave=False
    ) as bar:
        return judge.judge(items, on_result=lambda index, judgment: bar.update(1))


# ---- conventional metrics ---------------------------------------------------------------------


def retain_model_answers(cfg: DiagnoseConfig, load: dict, tok, questions: list[str], gen: dict) -> list[str]:
    """The retain model's greedy answers to the forget questions: its fact-leak rate is the chance
    baseline (a model that never saw the facts names the right value this often by guessing)."""
    from squeeze.lm.generation import generate_answers
    from squeeze.lm.models import load_model

    retain_dir = resolve_retain_model(cfg.retain_model)
    retain = load_model(retain_dir, **load).eval()
    return [c[0].text for c in generate_answers(retain, tok, questions, progress=cfg.progress, **gen)]


def conventional_metrics(
    cfg: DiagnoseConfig,
    model,
    tok,
    inputs: dict,
    answers: dict,
    load: dict,
    reference,
    reference_tok,
    reference_dir: Path,
) -> dict:
    """DESIGN section 9 metrics of the checkpoint (squeeze.metrics.suite) and their named aggregates.

    With `cfg.mmlu`, MMLU accuracy of the checkpoint and of the reference ("before").
    """
    from squeeze.lm.models import load_model
    from squeeze.metrics import aggregate_all, load_aggregate_definitions, tofu_metrics

    retain_model = None
    if cfg.retain_model:
        retain_dir = resolve_retain_model(cfg.retain_model)
        retain_model = load_model(retain_dir, **load).eval()
        checkpoint_tokenizer(retain_dir, tok, inputs["forget"], what="retain model")
    metrics = tofu_metrics(
        model,
        tok,
        forget=inputs["forget"],
        retain=inputs["retain"] or None,
        world_facts=inputs["world_facts"] or None,
        real_authors=inputs["real_authors"] or None,
        generations=answers,
        retain_model=retain_model,
        holdout=inputs["holdout"] or None,
        min_k=cfg.min_k,
        batch_size=cfg.batch_size,
        convention=cfg.metric_convention,
    )
    ou_logs = openunlearning_metrics(cfg, model, tok, inputs, metrics)
    if cfg.mmlu:
        from squeeze.diagnose.mmlu_eval import MMLUSelection, mmlu_before_after, parse_subjects

        selection = MMLUSelection(count=cfg.mmlu, subjects=parse_subjects(cfg.mmlu_subjects), seed=cfg.mmlu_seed)
        metrics.update(
            mmlu_before_after(model, reference, tok, reference_dir, selection, cfg.batch_size, reference_tok)
        )
    return {
        "metrics": metrics,
        "aggregates": aggregate_all(metrics, load_aggregate_definitions()),
        "openunlearning": ou_logs,
    }


def openunlearning_metrics(cfg: DiagnoseConfig, model, tok, inputs: dict, metrics: dict) -> dict:
    """TOFU_EVAL.json's logs; with --retain-logs also forget quality and PrivLeak (into `metrics`)."""
    from squeeze.diagnose.openunlearning import openunlearning_logs, privleak_openunlearning, read_retain_logs
    from squeeze.metrics.privacy import membership_auc
    from squeeze.metrics.suite import _min_k, has_truth_ratio_inputs
    from squeeze.metrics.tofu import forget_quality, item_truth_ratios

    forget, holdout = inputs["forget"], inputs["holdout"]
    wanted = bool(cfg.preset or cfg.retain_logs)
    trs = item_truth_ratios(model, tok, forget, cfg.batch_size) if wanted and has_truth_ratio_inputs(forget) else None
    auc_ou = None
    if wanted and holdout:

        def scores(records):
            return _min_k(model, tok, records, cfg.min_k, cfg.batch_size, convention=cfg.metric_convention)

        auc_ou = 1.0 - membership_auc(scores(forget), scores(holdout))
    if cfg.retain_logs:
        if cfg.retain_model:
            raise ConfigError("give --retain-model or --retain-logs, not both")
        retain = read_retain_logs(cfg.retain_logs)
        if trs is not None and retain["truth_ratios"]:
            metrics["forget_quality"] = forget_quality(trs, retain["truth_ratios"])
        if auc_ou is not None and retain["mia_auc"] is not None:
            metrics["privleak"] = privleak_openunlearning(auc_ou, retain["mia_auc"])
    return openunlearning_logs(metrics, [r.id for r in forget], trs, auc_ou)


# ---- the whole diagnosis ---------------------------------------------------------------------


def default_out(model_dir: Path, run_dir: Path | None) -> Path:
    return run_dir / "diagnose" if run_dir is not None else model_dir.with_name(model_dir.name + "-diagnose")


def diagnose(cfg: DiagnoseConfig) -> dict:
    """Run the diagnosis of `cfg` and write every file; returns the report (report.json)."""

    from squeeze.core.runlock import RunLock, clear_outputs
    from squeeze.diagnose.openunlearning import apply_preset
    from squeeze.diagnose.preflight import check_models, check_settings
    from squeeze.lm.models import resolve_original
    from squeeze.lm.runtime import resolve_device, resolve_dtype

    preset_set = apply_preset(cfg)
    check_settings(cfg)  # options, files and the cache, before any model is loaded (issue 14)
    if cfg.answer_samples < 0:
        raise ConfigError("answer_samples must be >= 0")
    device = resolve_device(cfg.device)
    load = dict(device=device, dtype=resolve_dtype(cfg.dtype, device))
    if cfg.attacks:  # an impossible attack setting fails before any model is loaded
        from squeeze.attacks.settings import AttackSettings

        AttackSettings.of(cfg)
    model_dir, run_dir = resolve_checkpoint(cfg.model)
    run_cfg = run_config(run_dir)
    if not (cfg.reference or run_cfg.get("original")):
        raise ConfigError("no reference model: give --reference (the original model the checkpoint was unlearned from)")
    reference_dir = resolve_original(cfg.reference or run_cfg["original"])
    inputs = load_inputs(cfg, run_cfg)
    retain_dir = resolve_retain_model(cfg.retain_model) if cfg.retain_model else None
    texts = [*inputs["forget"], *inputs["retain"], *inputs["world_facts"], *inputs["holdout"]]
    check_models(model_dir, reference_dir, retain_dir, texts)
    out = Path(cfg.out) if cfg.out else default_out(model_dir, run_dir)
    from squeeze.lm.prompting import prompt_template
    from squeeze.lm.template_args import merged_template_args

    # One run at a time in OUT; the earlier run's results go as a set. Every prompt (bins,
    # scores, answers, metrics) carries --system-prompt and the template args (issue 15).
    with RunLock(out), prompt_template(merged_template_args(cfg.template_args, cfg.system_prompt)):
        clear_outputs(out, OUTPUTS)
        return _diagnose_into(out, cfg, load, preset_set, model_dir, run_dir, reference_dir, inputs)


def _diagnose_into(out: Path, cfg, load: dict, preset_set, model_dir: Path, run_dir, reference_dir, inputs) -> dict:
    import pandas as pd

    from squeeze.core.config import to_yaml
    from squeeze.core.provenance import now_utc
    from squeeze.core.rundir import RunDir, write_jsonl, write_parquet, write_text
    from squeeze.diagnose.openunlearning import write_openunlearning_files
    from squeeze.diagnose.report import assemble_report, write_outputs
    from squeeze.lm.generation import generate_answers
    from squeeze.lm.models import load_model, load_tokenizer

    started = now_utc()
    forget = inputs["forget"]
    RunDir(out).create()
    write_text(out / "config.yaml", to_yaml(cfg))
    say = print if cfg.progress else (lambda *a, **k: None)
    if preset_set:
        say(f"preset {cfg.preset}: " + ", ".join(preset_set))

    reference, tok = load_model(reference_dir, **load).eval(), load_tokenizer(reference_dir)
    bins, bins_from, settings = _reference_bins(out, cfg, reference, tok, reference_dir, run_dir, forget, say)
    gen = dict(n=1, mode="greedy", max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size)
    questions = [r.question for r in forget]
    ref_scores = score_bins(reference, tok, bins, forget, 0, cfg.batch_size, cfg.progress)
    ref_answers = [c[0].text for c in generate_answers(reference, tok, questions, progress=cfg.progress, **gen)]

    model = load_model(model_dir, **load).eval()
    model_tok, own_tok = checkpoint_tokenizer(model_dir, tok, forget)
    if not own_tok:
        say(f"{model_dir} has no tokenizer; using the reference's")
    scores = pd.concat(
        [ref_scores, score_bins(model, model_tok, bins, forget, 1, cfg.batch_size, cfg.progress)],
        ignore_index=True,
    )
    write_parquet(out / "logprobs.parquet", scores)
    rows, answers = _checkpoint_answers(cfg, model, model_tok, inputs, ref_answers, load, gen)
    write_jsonl(out / "generations.jsonl", rows)
    metrics = conventional_metrics(cfg, model, model_tok, inputs, answers, load, reference, tok, reference_dir)
    judged = _judge_and_attack(out, cfg, model, model_tok, (reference, tok, reference_dir), inputs, load, rows, answers)
    del model
    greedy_judgments, sample_judgments, attacks, judge = judged
    report = assemble_report(
        cfg,
        inputs,
        scores,
        rows,
        greedy_judgments,
        metrics,
        judge,
        run_dir,
        paths={"model": str(model_dir), "reference_model": str(reference_dir), "bins": bins_from},
        sample_judgments=sample_judgments,
        attacks=attacks,
    )
    report["provenance"] = _provenance(cfg, inputs, settings, load, started, run_dir)
    if run_dir is not None and report.get("training_dynamics"):  # the run's own dynamics figures
        from squeeze.track.plots import ensure_run_figures

        figures = ensure_run_figures(run_dir)
        report["training_dynamics"]["figures"] = [os.path.relpath(f, out) for f in figures]
    write_outputs(out, report, scores, cfg.top_examples)
    write_openunlearning_files(out, metrics["openunlearning"])
    say(f"wrote {out}/report.md")
    return report


def _reference_bins(out: Path, cfg, reference, tok, reference_dir: Path, run_dir, forget, say):
    """(bins, where they came from, the binner's settings): reused when a stored set matches,
    else built from the reference's beam search. Resolves batch_size=auto first."""
    from squeeze.bins.binner import BinnerSettings, build_bins

    if cfg.batch_size == "auto":
        from squeeze.bins.binner import model_fingerprint
        from squeeze.lm.runtime import batch_size_for_records

        cfg.batch_size = batch_size_for_records(
            reference, tok, forget, cfg.max_new_tokens, model_fingerprint(reference_dir)
        )
        say(f"batch_size=auto: {cfg.batch_size}")
    settings = BinnerSettings(
        n_candidates=cfg.candidates,
        n_samples=cfg.samples,
        max_new_tokens=cfg.bin_max_new_tokens,
        batch_size=min(cfg.batch_size, 8),
    )
    places = [Path(cfg.bins)] if cfg.bins else []
    places += [run_dir / "bins.jsonl"] if run_dir is not None else []
    bins, bins_from = ensure_bins(
        out,
        places,
        bins_meta(settings, cfg.limit, reference_dir, forget),
        lambda: build_bins(reference, tok, forget, settings, progress=cfg.progress),
    )
    say(f"bins: {bins_from} ({len(bins)} items)")
    return bins, bins_from, settings


def _checkpoint_answers(cfg, model, model_tok, inputs: dict, ref_answers: list[str], load: dict, gen: dict):
    """(generations.jsonl rows, greedy answer texts per split): the checkpoint's greedy answer and
    sampled answers per forget item, beside the reference's and (with --retain-model) the retain
    model's; greedy answers to the utility splits for the conventional metrics."""
    from squeeze.lm.generation import generate_answers

    forget = inputs["forget"]
    questions = [r.question for r in forget]
    splits = ("forget", "retain", "world_facts", "real_authors")
    generated = {
        split: [
            c[0]
            for c in generate_answers(
                model, model_tok, [r.question for r in inputs[split]], progress=cfg.progress, **gen
            )
        ]
        for split in splits
        if inputs[split]
    }
    answers = {split: [c.text for c in cands] for split, cands in generated.items()}
    samples = (
        generate_answers(
            model,
            model_tok,
            questions,
            n=cfg.answer_samples,
            mode="sample",
            max_new_tokens=cfg.max_new_tokens,
            batch_size=cfg.batch_size,
            seed=0,
            progress=cfg.progress,
        )
        if cfg.answer_samples
        else [[] for _ in forget]
    )
    chance_answers = retain_model_answers(cfg, load, model_tok, questions, gen) if cfg.retain_model else None
    rows = [
        {
            "item_id": r.id,
            "question": r.question,
            "reference": r.answer,
            "wrong_answers": list(r.perturbed_answer or []),  # the judge's fact check reads them
            "generation": g.text,
            "truncated": not g.ended,
            "reference_model_generation": rg,
            "samples": [c.text for c in drawn],
            "samples_truncated": [not c.ended for c in drawn],
            **({"retain_model_generation": chance_answers[i]} if chance_answers is not None else {}),
        }
        for i, (r, g, rg, drawn) in enumerate(zip(forget, generated["forget"], ref_answers, samples, strict=False))
    ]
    return rows, answers


def _judge_and_attack(out: Path, cfg, model, model_tok, reference_lm: tuple, inputs, load, rows, answers):
    """(greedy judgments, sampled judgments per row, the attacks' (rows, block) or None, the judge).

    One judge for the answers and the attacks (issue 11: they reuse the loaded checkpoint and the
    greedy judgments). judgments.jsonl is written before the unjudged share is checked, so a
    diagnosis that fails on it can still be inspected."""
    from squeeze.core.failures import check_judged
    from squeeze.core.rundir import write_jsonl
    from squeeze.diagnose.judging import opened_judge

    reference, tok, reference_dir = reference_lm
    attacks = None
    with opened_judge(cfg.judge, diagnose_reference(reference, tok, reference_dir)) as judge:
        judgments = judge_answers(judge, rows, cfg.progress)
        greedy_judgments, sample_judgments = judgments[: len(rows)], judgments[len(rows) :]
        if cfg.attacks:
            from squeeze.diagnose.attack_step import attack_checkpoint

            attacks = attack_checkpoint(
                cfg, model, model_tok, tok, inputs, judge, load, answers["forget"], greedy_judgments, sample_judgments
            )
            write_jsonl(out / "attacks.jsonl", attacks[0])
    write_jsonl(
        out / "judgments.jsonl",
        [
            {**j.to_dict(), "meta": {"reference_model_generation": r["reference_model_generation"]}}
            for j, r in zip(greedy_judgments, rows, strict=False)
        ]
        + [{**j.to_dict(), "meta": {"sample": True}} for j in sample_judgments],
    )
    check_judged(greedy_judgments, cfg.max_unjudged, f"squeeze diagnose {out}")
    by_item: dict[str, list] = {}
    for j in sample_judgments:
        by_item.setdefault(j.item_id.rsplit("#sample", 1)[0], []).append(j)
    return greedy_judgments, [by_item.get(r["item_id"], []) for r in rows], attacks, judge


def _provenance(cfg, inputs: dict, settings, load: dict, started, run_dir) -> dict:
    """report.json's provenance: versions, seeds, the data's sha256, device, the run's config."""
    from squeeze.core.provenance import provenance

    run_cfg = run_config(run_dir)
    record = provenance(
        config=cfg,
        seeds={"bins": settings.seed, "mmlu": cfg.mmlu_seed, "run": run_cfg.get("seed")},
        data=[
            inputs["forget_source"],
            inputs["retain_source"],
            inputs["world"],
            cfg.world_facts,
            cfg.real_authors,
            cfg.retain_logs,
        ],
        device=load["device"],
        dtype=load["dtype"],
        started=started,
    )
    if run_cfg:
        record["run_config"] = run_cfg
    return record


def run(cfg: DiagnoseConfig) -> Path:
    """The diagnose stage: `diagnose(cfg)`; returns the output folder (report.json, report.md, ...)."""
    model_dir, run_dir = resolve_checkpoint(cfg.model)
    diagnose(cfg)
    return Path(cfg.out) if cfg.out else default_out(model_dir, run_dir)
