"""Squeeze statistics (DESIGN section 8) from the tracker's long table `dynamics.parquet`.

Per item i and tracked step t, with logp(c) the sequence log-prob `sum_t log p_t[c_t]` of a
candidate under the model at step t:
- bin mass      M_g(t) = log sum_{c in bin g} exp logp(c)           (logsumexp over the bin)
- escape share  S(t)   = exp M_high(t) / (exp logp(y_u) + sum_{all c} exp logp(c))
- squeeze peak  = max_t (M_high(t) - M_high(0))
- escape gap    = (M_high(T) - M_high(0)) - (logp(y_u)(T) - logp(y_u)(0)) at the last step T
- matched step  = first tracked step at which logp(y_u) fell by at least `drop` nats
On the world also the value token's log-prob (the sum over the value's tokens) inside the
target and inside the sibling candidates that carry the value, and the leak rates of greedy
and top-5 beam answers (`leak_rates`, run on a model at the end).

Everything is sequence-level: siblings share most tokens with the target, so per-token means
hide the effect (DESIGN section 3); the per-token mean of the target is reported only beside.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from squeeze.core.types import BIN_NAMES, Fact, QARecord

DEFAULT_MATCHED_DROP = 10.0  # nats the target must lose for "matched forgetting"
PER_ITEM_STATS = (
    "squeeze_peak",
    "escape_gap",
    "delta_target",
    "delta_mass_high",
    "delta_mass_mid",
    "delta_mass_low",
    "escape_share_start",
    "escape_share_end",
    "delta_value_target",
    "delta_value_siblings",
    "delta_target_logp_mean",
)


# ---- finding the value inside token ids (the world) ------------------------------------------


def value_needles(tokenizer, fact: Fact | None) -> list[list[int]]:
    """Token-id sequences the fact's value (or an alias) can appear as, longest form first:
    as the tokenizer encodes it mid-sentence (with a leading space) and at the start, in its
    own case, capitalised and lower-cased."""
    if fact is None:
        return []
    needles: list[list[int]] = []
    for form in sorted({f.strip() for f in fact.surface_forms() if f.strip()}, key=len, reverse=True):
        for variant in dict.fromkeys((form, form[:1].upper() + form[1:], form.lower())):
            for text in (" " + variant, variant):
                ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
                if ids and ids not in needles:
                    needles.append(ids)
    return needles


def value_positions(token_ids: Sequence[int], needles: Sequence[Sequence[int]]) -> list[int]:
    """Positions in `token_ids` of the first needle (from `value_needles`) found, or []."""
    ids = list(token_ids)
    for needle in needles:
        start = _find(ids, list(needle))
        if start is not None:
            return list(range(start, start + len(needle)))
    return []


def _find(haystack: list[int], needle: list[int]) -> int | None:
    n = len(needle)
    if n == 0:
        return None
    for i in range(len(haystack) - n + 1):
        if haystack[i : i + n] == needle:
            return i
    return None


# ---- per item and step -----------------------------------------------------------------------


def _group_logsumexp(frame: pd.DataFrame, keys: list[str], column: str = "logp_sum") -> pd.Series:
    """logsumexp of `column` within each group of `keys`, computed stably with the group max."""
    by = [frame[k] for k in keys]
    peak = frame.groupby(keys)[column].transform("max")
    total = np.exp(frame[column] - peak).groupby(by).sum()
    return np.log(total) + peak.groupby(by).first()


def item_steps(dynamics: pd.DataFrame) -> pd.DataFrame:
    """One row per (step, item_id): target logp, bin masses, escape share, value log-probs.

    An empty bin has mass -inf (its probability is 0).
    """
    keys = ["step", "item_id"]
    target = dynamics[dynamics["group"] == "target"].set_index(keys)
    out = pd.DataFrame({"target": target["logp_sum"], "target_logp_mean": target["logp_mean"]})
    out["value_target"] = target["value_logp"] if "value_logp" in target else np.nan
    cands = dynamics[dynamics["group"] != "target"]
    for name in BIN_NAMES:
        rows = cands[cands["group"] == name]
        out[f"mass_{name}"] = _group_logsumexp(rows, keys) if len(rows) else np.nan
    out[[f"mass_{n}" for n in BIN_NAMES]] = out[[f"mass_{n}" for n in BIN_NAMES]].fillna(-np.inf)
    everything = _group_logsumexp(dynamics, keys)  # target + every candidate
    out["escape_share"] = np.exp(out["mass_high"] - everything.reindex(out.index))
    if "value_logp" in cands:
        out["value_siblings"] = cands.dropna(subset=["value_logp"]).groupby(keys)["value_logp"].mean()
    else:
        out["value_siblings"] = np.nan
    return out.sort_index()


def _delta(a: float, b: float) -> float:
    """b - a, NaN when either is infinite (an empty bin) or missing."""
    return b - a if math.isfinite(a) and math.isfinite(b) else float("nan")


def per_item(table: pd.DataFrame, drop: float = DEFAULT_MATCHED_DROP) -> dict[str, dict]:
    """The section-8 summaries of every item from `item_steps` output."""
    items: dict[str, dict] = {}
    for item_id, rows in table.groupby(level="item_id", sort=True):
        rows = rows.droplevel("item_id").sort_index()
        first, last = rows.iloc[0], rows.iloc[-1]
        high = rows["mass_high"]
        peak = float((high - high.iloc[0]).max()) if math.isfinite(high.iloc[0]) else float("nan")
        fell = rows.index[(first["target"] - rows["target"]) >= drop]
        stats = {
            "squeeze_peak": peak,
            "escape_gap": _delta(first["mass_high"], last["mass_high"]) - (last["target"] - first["target"]),
            "delta_target": float(last["target"] - first["target"]),
            **{f"delta_mass_{n}": _delta(first[f"mass_{n}"], last[f"mass_{n}"]) for n in BIN_NAMES},
            "escape_share_start": float(first["escape_share"]),
            "escape_share_end": float(last["escape_share"]),
            "delta_value_target": _delta(first["value_target"], last["value_target"]),
            "delta_value_siblings": _delta(first["value_siblings"], last["value_siblings"]),
            "delta_target_logp_mean": float(last["target_logp_mean"] - first["target_logp_mean"]),
            "matched_step": int(fell[0]) if len(fell) else None,
        }
        if stats["matched_step"] is not None:
            at = rows.loc[stats["matched_step"]]
            stats["delta_mass_high_at_matched"] = _delta(first["mass_high"], at["mass_high"])
            stats["escape_share_at_matched"] = float(at["escape_share"])
        items[str(item_id)] = {k: _clean(v) for k, v in stats.items()}
    return items


def _clean(value):
    if value is None or isinstance(value, (int, str)):
        return value
    value = float(value)
    return value if math.isfinite(value) else None


def _average(items: dict[str, dict], how: str) -> dict:
    out = {}
    for key in PER_ITEM_STATS:
        values = np.array([v[key] for v in items.values() if v.get(key) is not None], dtype=float)
        out[key] = (float(np.mean(values)) if how == "mean" else float(np.median(values))) if len(values) else None
    out["n_items_matched"] = sum(v["matched_step"] is not None for v in items.values())
    return out


def interval95(values) -> list[float] | None:
    """Student-t 95% interval of the mean of `values` (a rate over items is an estimate), or
    None below two values; [m, m] when they are all equal."""
    from squeeze.core.intervals import t_quantile_975

    values = np.asarray([v for v in values if v is not None], dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return None
    mean, sem = float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))
    half = t_quantile_975(len(values) - 1) * sem
    return [mean - half, mean + half]


def drop_curve(
    dynamics: pd.DataFrame, probes: pd.DataFrame | None = None, table: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per tracked step: the mean and median target drop (nats since step 0, over items), with
    the probe rates measured at that step when the run has them (the matched-forgetting axes).
    `table`: `item_steps(dynamics)` when the caller has it already (half of the summary's cost)."""
    table = item_steps(dynamics) if table is None else table
    start = table.groupby(level="item_id")["target"].transform("first")
    drops = (start - table["target"]).groupby(level="step")
    curve = pd.DataFrame({"target_drop_mean": drops.mean(), "target_drop_median": drops.median()})
    curve["delta_mass_high_median"] = (
        (table["mass_high"] - table.groupby(level="item_id")["mass_high"].transform("first"))
        .groupby(level="step")
        .median()
    )
    if probes is not None and len(probes):
        for name, rows in probes.groupby("probe"):
            curve[str(name)] = rows.groupby("step")["value"].mean().reindex(curve.index)
    return curve


def summarise(
    dynamics: pd.DataFrame,
    probes: pd.DataFrame | None = None,
    final_leaks: dict | None = None,
    drop: float = DEFAULT_MATCHED_DROP,
) -> dict:
    """The content of dynamics_summary.json: per item and averaged (mean and median)."""
    if dynamics.empty:
        raise ValueError("the dynamics table is empty: nothing was tracked")
    table = item_steps(dynamics)
    items = per_item(table, drop)
    curve = drop_curve(dynamics, probes, table)
    crossed = curve.index[curve["target_drop_mean"] >= drop]
    matched: dict = {"drop_nats": drop, "step": int(crossed[0]) if len(crossed) else None}
    if matched["step"] is not None:
        matched.update({k: _clean(v) for k, v in curve.loc[matched["step"]].items()})
    summary = {
        "n_items": len(items),
        "steps": [int(s) for s in curve.index],
        "mean": _average(items, "mean"),
        "median": _average(items, "median"),
        "interval95": {k: interval95([v.get(k) for v in items.values()]) for k in PER_ITEM_STATS},
        "matched_forgetting": matched,
        "curve": {"step": [int(s) for s in curve.index], **{c: [_clean(v) for v in curve[c]] for c in curve.columns}},
        "items": items,
    }
    if final_leaks is not None:
        summary["leak"] = final_leaks
        for item_id, row in final_leaks.get("items", {}).items():
            if item_id in items:
                items[item_id].update({f"leak_{k}": v for k, v in row.items() if k != "greedy_text"})
    return summary


# ---- leak rates at the end (the world's oracle) ------------------------------------------------


def leak_rates(
    model,
    tokenizer,
    records: Sequence[QARecord],
    beams: int = 5,
    max_new_tokens: int = 32,
    batch_size: int = 16,
    greedy_texts: Mapping[str, str] | None = None,
) -> dict:
    """Share of forget items whose greedy answer, or any of the top-`beams` beam answers, still
    states the fact's value or an alias (`contains_fact`). Items without a fact are skipped.
    `greedy_texts` (record id -> greedy answer of this same model, e.g. the tracker's probe at
    the last step) saves generating them again when it covers every item."""
    from squeeze.lm.generation import generate_answers
    from squeeze.world.build import contains_fact

    rows = [r for r in records if r.fact is not None]
    top_key = f"top{beams}"
    if not rows:
        return {"n_items": 0, "beams": beams, "greedy_rate": None, f"{top_key}_rate": None, "items": {}}
    questions = [r.question for r in rows]
    common = dict(max_new_tokens=max_new_tokens, batch_size=batch_size)
    if greedy_texts is not None and all(r.id in greedy_texts for r in rows):
        greedy = [greedy_texts[r.id] for r in rows]
    else:
        greedy = [c.text for (c,) in generate_answers(model, tokenizer, questions, n=1, mode="greedy", **common)]
    top = generate_answers(model, tokenizer, questions, n=beams, mode="beam", **common)
    items = {}
    for r, g, b in zip(rows, greedy, top, strict=False):
        items[r.id] = {
            "greedy": bool(contains_fact(g, r.fact)),
            top_key: any(contains_fact(c.text, r.fact) for c in b),
            "greedy_text": g,
        }
    n = len(rows)
    return {
        "n_items": n,
        "greedy_rate": sum(v["greedy"] for v in items.values()) / n,
        f"{top_key}_rate": sum(v[top_key] for v in items.values()) / n,
        "beams": beams,
        "items": items,
    }
