"""Saving a Hugging Face causal LM atomically (DESIGN section 4, run directories).

The model and tokenizer are written into a temporary folder beside the target, which is then
renamed onto it, so a crash never leaves half a model. Its own module so that both loading
(squeeze/lm/models.py) and GGUF conversion (squeeze/lm/gguf.py) can use it without importing
each other.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from squeeze.core.rundir import honour_umask


def save_model(model, tokenizer, out_dir: str | os.PathLike, state_dict: dict | None = None) -> Path:
    """Save in Hugging Face format (safetensors), atomically replacing `out_dir`.

    `state_dict`: full weights gathered from a sharded (FSDP/DeepSpeed) model, if any.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        honour_umask(tmp, directory=True)
        model.save_pretrained(
            tmp, safe_serialization=True, **({"state_dict": state_dict} if state_dict is not None else {})
        )
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        for path in tmp.rglob("*"):  # some writers (safetensors shards) create their files 0600
            honour_umask(path, directory=path.is_dir())
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out_dir.rename(old)
            tmp.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
