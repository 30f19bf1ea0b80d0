"""One generation interface, several backends (DESIGN section 4).

`generate(model, tokenizer, prompts, n, mode)` returns, per prompt, candidates with their
text, answer token ids (EOS included when the model emitted it) and the per-token log-probs
*of the generating model* (softmax of its raw logits at temperature 1, whatever the
sampling temperature), so the same candidate teacher-forced after the same prompt scores
the same. Beam search runs each prompt once and shares its KV cache across the beams, and
takes the beams' log-probs from one packed teacher-forced pass (issue 13). Batched, left-padded, under `torch.inference_mode`. Backend `transformers` here;
`vllm` is a separate optional backend behind the same function signature.

    from squeeze.lm.generation import generate_answers
    beams = generate_answers(model, tokenizer, ["Where was Ada born?"], n=5, mode="beam")
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Literal

import torch
import transformers
from tqdm.auto import tqdm

from squeeze.core.types import Candidate
from squeeze.lm.batching import collator_for, pad_token_id
from squeeze.lm.prompting import decode_answer, encode_prompt

Mode = Literal["greedy", "beam", "sample"]
MODES = ("greedy", "beam", "sample")


def _truncate_at_eos(token_ids: list[int], eos_ids: set[int], pad_id: int | None) -> int:
    """Length of the answer: up to and including the first EOS, excluding trailing padding."""
    for i, tok in enumerate(token_ids):
        if tok in eos_ids:
            return i + 1
    n = len(token_ids)
    while n > 0 and pad_id is not None and token_ids[n - 1] == pad_id and pad_id not in eos_ids:
        n -= 1
    return n


def _eos_ids(model, tokenizer) -> set[int]:
    ids = model.generation_config.eos_token_id
    out = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        out.add(tokenizer.eos_token_id)
    return out


@torch.inference_mode()
def _generate_batch(
    model,
    tokenizer,
    prompt_batch,
    n: int,
    mode: Mode,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    shared_prompt: bool = True,
):
    collate = collator_for(tokenizer, padding_side="left")
    batch = collate([(p, []) for p in prompt_batch])
    device = next(model.parameters()).device
    input_ids = batch["input_ids"].to(device)
    attention = batch["attention_mask"].to(device)
    kwargs = dict(
        max_new_tokens=max_new_tokens,
        return_dict_in_generate=True,
        output_logits=True,
        pad_token_id=collate.pad_id,
        eos_token_id=sorted(_eos_ids(model, tokenizer)) or None,
        num_return_sequences=n,
    )
    if mode == "greedy":
        if n != 1:
            raise ValueError("greedy decoding gives one candidate per prompt; use mode='beam' or 'sample' for n > 1")
        kwargs.update(do_sample=False, num_beams=1)
    elif mode == "beam":
        kwargs.update(do_sample=False, num_beams=n, early_stopping=True, length_penalty=1.0)
    else:
        kwargs.update(do_sample=True, num_beams=1, temperature=temperature, top_p=top_p, top_k=0)
    shared = mode == "beam" and shared_prompt
    if shared:
        # The beams' log-probs come from one packed teacher-forced pass afterwards (`_beam_logprobs`),
        # not from every step's full-vocabulary logits, and the prompt is run once, not once per beam.
        kwargs["output_logits"] = False
        kwargs.update(_shared_prompt_cache(model, input_ids, attention, n))
    out = model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
    new_tokens = out.sequences[:, input_ids.shape[1] :]
    if shared:
        return new_tokens.cpu(), None, None
    # Raw logits at each step, one row per live hypothesis; log-softmax at temperature 1.
    step_logprobs = torch.stack([torch.log_softmax(step.float(), dim=-1) for step in out.logits], dim=1)
    beam_indices = getattr(out, "beam_indices", None)
    return new_tokens.cpu(), step_logprobs.cpu(), (beam_indices.cpu() if beam_indices is not None else None)


def _shared_prompt_cache(model, input_ids: torch.Tensor, attention: torch.Tensor, n: int) -> dict:
    """generate() kwargs holding the KV cache of every prompt but its last token, computed once
    for the batch and repeated for the `n` beams (generate expands the prompts, not a given
    cache), so the beams' prefill runs one token each; {} where the model keeps no such cache."""
    if n < 2 or input_ids.shape[1] < 2 or not getattr(model.config, "use_cache", True):
        return {}
    try:
        from transformers import DynamicCache

        name = "cache" if int(transformers.__version__.split(".")[0]) >= 5 else "past_key_values"
        cache = DynamicCache(config=model.config)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        model(
            input_ids=input_ids[:, :-1],
            attention_mask=attention[:, :-1],
            position_ids=positions[:, :-1],
            use_cache=True,
            **{name: cache},
        )
        cache.batch_repeat_interleave(n)
    except (TypeError, ValueError, AttributeError):  # a model or version without this cache: plain prefill
        return {}
    return {name: cache}


@torch.inference_mode()
def _beam_logprobs(model, prompts, beams: list[list[list[int]]], pad_id: int) -> list[list[list[float]]]:
    """Per-token log-probs of each prompt's beams from one packed scoring pass (squeeze.lm.packing).
    Under inference mode like the decoding: with autograd on, the pass took twice as long."""
    from squeeze.lm.packing import token_logprobs_per_item

    items = [(list(p), [ids or [pad_id] for ids in seqs]) for p, seqs in zip(prompts, beams, strict=True)]
    scored = token_logprobs_per_item(model, items, pad_id)
    return [
        [lp[: len(ids)] for lp, ids in zip(rows, seqs, strict=True)] for rows, seqs in zip(scored, beams, strict=True)
    ]


def generate(
    model,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    n: int = 1,
    mode: Mode = "greedy",
    max_new_tokens: int = 32,
    temperature: float = 1.0,
    top_p: float = 1.0,
    batch_size: int = 16,
    seed: int | None = None,
    progress: bool = False,
    shared_prompt: bool = True,
) -> list[list[Candidate]]:
    """Candidates for each prompt (prompt token ids, as `squeeze.lm.prompting.encode_prompt` gives).

    `shared_prompt=False` runs beam search the plain way (every beam runs the prompt; log-probs
    from the stored step logits): the same candidates, slower; kept for bench/bins.py."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if n < 1:
        raise ValueError("n must be at least 1")
    was_training = model.training
    model.eval()
    eos_ids = _eos_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id
    results: list[list[Candidate]] = []
    # Sampling must not disturb the caller's RNG stream (the trainer checkpoints it).
    rng = torch.random.fork_rng(devices=[]) if seed is not None else nullcontext()
    try:
        with rng:
            if seed is not None:
                torch.manual_seed(seed)
            starts = range(0, len(prompts), batch_size)
            for start in tqdm(starts, desc=f"generate ({mode})", disable=not progress, leave=False):
                chunk = prompts[start : start + batch_size]
                new_tokens, step_logprobs, beam_indices = _generate_batch(
                    model, tokenizer, chunk, n, mode, max_new_tokens, temperature, top_p, shared_prompt
                )
                answers, ended = [], []
                for row in range(len(chunk) * n):
                    ids = new_tokens[row].tolist()
                    length = _truncate_at_eos(ids, eos_ids, pad_id)
                    # Cut off: no EOS and every one of max_new_tokens used (a batch-mate's
                    # longer answer pads a finished one, which is not cut off).
                    ended.append(any(tok in eos_ids for tok in ids[:length]) or length < max_new_tokens)
                    answers.append(ids[:length])
                beams = [answers[p * n : (p + 1) * n] for p in range(len(chunk))]
                if step_logprobs is None:  # beam search: scored afterwards, packed
                    logps = _beam_logprobs(model, chunk, beams, pad_token_id(tokenizer))
                else:
                    logps = [
                        [
                            [
                                float(step_logprobs[_source(beam_indices, p * n + j, t), t, tok])
                                for t, tok in enumerate(ids)
                            ]
                            for j, ids in enumerate(seqs)
                        ]
                        for p, seqs in enumerate(beams)
                    ]
                for p, (seqs, lps) in enumerate(zip(beams, logps, strict=True)):
                    results.append(
                        [
                            Candidate(
                                text=decode_answer(tokenizer, ids),
                                token_ids=ids,
                                token_logprobs=lp,
                                ended=ended[p * n + j],
                            )
                            for j, (ids, lp) in enumerate(zip(seqs, lps, strict=True))
                        ]
                    )
    finally:
        model.train(was_training)
    return results


def _source(beam_indices, row: int, t: int) -> int:
    return row if beam_indices is None else int(beam_indices[row, t])


def generate_answers(model, tokenizer, questions: Sequence[str], **kwargs) -> list[list[Candidate]]:
    """`generate` on formatted prompts for raw questions."""
    return generate(model, tokenizer, [encode_prompt(tokenizer, q) for q in questions], **kwargs)
