"""Teacher-forced per-token log-probs of many answers to one prompt, scored as one packed
sequence: the prompt followed by the prefix tree of the answers (DESIGN section 8's tracker
scores the target and ~20 bin candidates per item at every tracked step; beams share most
of their prefixes, so the tree holds a fraction of their tokens).

Layout of one row: left padding, the prompt, then the tree's nodes (parents before
children). A 4D attention mask lets each node see the prompt and its own ancestors only, and
its position id continues the prompt by its depth, so every node gets exactly the hidden
state it has in its own sequence (a test checks each token against `flat_token_logprobs`).
A node's log-prob is read from its parent's logits; with left padding all needed logits are
the row's last `nodes + 1`, so `logits_to_keep` skips the LM head on the prompt.
"""

from __future__ import annotations

import numpy as np
import torch


def _device(model) -> torch.device:
    return next(model.parameters()).device


def flat_token_logprobs(model, prompt: list[int], seqs: list[list[int]], pad_id: int) -> list[list[float]]:
    """Per-token log-probs of each answer after `prompt`, one padded row per sequence."""
    from methods.common import shift_for_next_token, token_logprobs
    from squeeze.lm.batching import QACollator
    from squeeze.lm.logprobs import forward_logits

    batch = {k: v.to(_device(model)) for k, v in QACollator(pad_id)([(prompt, s) for s in seqs]).items()}
    logits, labels = shift_for_next_token(forward_logits(model, batch), batch["labels"])
    logp = token_logprobs(logits.float(), labels).cpu()
    start = len(prompt) - 1
    return [logp[i, start : start + len(s)].tolist() for i, s in enumerate(seqs)]


def prefix_tree(seqs: list[list[int]]) -> tuple[list[int], list[int], list[list[int]]]:
    """(node tokens, node parents (-1: the prompt's last token), node path of each sequence).
    Parents always come before children."""
    index: dict[tuple[int, int], int] = {}
    tokens, parents, paths = [], [], []
    for seq in seqs:
        parent, path = -1, []
        for tok in seq:
            node = index.get((parent, tok))
            if node is None:
                node = index[(parent, tok)] = len(tokens)
                tokens.append(tok)
                parents.append(parent)
            path.append(node)
            parent = node
        paths.append(path)
    return tokens, parents, paths


def tree_token_logprobs(model, items: list[tuple[list[int], list[list[int]]]], pad_id: int) -> list[list[list[float]]]:
    """Per-token log-probs of every sequence of every (prompt, sequences) item, one packed
    row per item: left padding, then the prompt, then the prefix tree of the sequences."""
    return [[lp for lp, _ in item] for item in tree_token_stats(model, items, pad_id)]


def tree_token_stats(
    model, items: list[tuple[list[int], list[list[int]]]], pad_id: int
) -> list[list[tuple[list[float], list[int]]]]:
    """Like `tree_token_logprobs`, with the model's argmax at each position beside each log-prob
    (exact memorisation and extraction strength need it): (log-probs, argmax ids) per sequence."""
    trees = [prefix_tree(seqs) for _, seqs in items]
    width = max(len(p) + len(t[0]) for (p, _), t in zip(items, trees, strict=False))
    keep = max(len(t[0]) for t in trees) + 1  # logits of the prompt's last token and every node
    n = len(items)
    ids = np.full((n, width), pad_id, dtype=np.int64)
    pos = np.zeros((n, width), dtype=np.int64)
    allowed = np.zeros((n, width, width), dtype=bool)
    allowed[:, np.arange(width), np.arange(width)] = True  # padding attends to itself only
    where: list[tuple[int, int, int]] = []  # (row, kept index of the parent, token) per node
    for r, ((prompt, _), (tokens, parents, _)) in enumerate(zip(items, trees, strict=False)):
        p, k = len(prompt), len(tokens)
        off = width - p - k
        ids[r, off : off + p], ids[r, off + p :] = prompt, tokens
        pos[r, off : off + p] = np.arange(p)
        allowed[r, off : off + p, off : off + p] = np.tril(np.ones((p, p), dtype=bool))
        depth = []
        for j, parent in enumerate(parents):
            at = off + p + j
            parent_at = off + p - 1 if parent < 0 else off + p + parent
            depth.append(1 if parent < 0 else depth[parent] + 1)
            pos[r, at] = p - 1 + depth[j]
            allowed[r, at] = allowed[r, parent_at]
            allowed[r, at, at] = True
            where.append((r, parent_at - (width - keep), tokens[j]))
    device, dtype = _device(model), next(model.parameters()).dtype
    mask = torch.zeros((n, 1, width, width), dtype=dtype)
    mask.masked_fill_(~torch.from_numpy(allowed).unsqueeze(1), torch.finfo(dtype).min)
    inputs = dict(
        input_ids=torch.from_numpy(ids).to(device),
        attention_mask=mask.to(device),
        position_ids=torch.from_numpy(pos).to(device),
    )
    try:
        logits = model(**inputs, logits_to_keep=keep).logits[:, -keep:]
    except TypeError:  # a model without logits_to_keep
        logits = model(**inputs).logits[:, -keep:]
    rows, rel, toks = (torch.tensor(c, device=logits.device) for c in zip(*where, strict=False))
    picked = logits[rows, rel].float()
    node_logp = (picked.gather(-1, toks.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(picked, -1)).tolist()
    node_argmax = picked.argmax(-1).tolist()
    out, start = [], 0
    for tokens, _, paths in trees:
        out.append([([node_logp[start + n] for n in path], [node_argmax[start + n] for n in path]) for path in paths])
        start += len(tokens)
    return out
