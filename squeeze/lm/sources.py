"""Where a model comes from: one resolver for every place a model is named (issue 15, item 1).

`--model`, `--reference`, `--retain-model`, `base_model=`, `--judge-model` and `squeeze track
--checkpoints` all go through `resolve_model`, which turns a name into a local folder to load:

- a Hugging Face folder (with config.json): itself;
- a PEFT adapter folder (with adapter_config.json): itself; `load_model` resolves its base from
  `base_model_name_or_path` (any source below, recursively) and merges the adapter in memory;
- a `.gguf` file or a known GGUF name (`smollm2-135m-instruct`): its cached safetensors
  conversion (squeeze/lm/gguf.py);
- a Hub id (`owner/name`): the local Hub cache when it holds the model, else a download.
  Offline (HF_HUB_OFFLINE set, or the endpoint unreachable) it fails at once with one line,
  without the Hub client's retries.

Run folders (an unlearning run's model/, a train-original run's original/ or retain/) are
unwrapped by the callers, which know which sub-folder they mean, before they call this.

    from squeeze.lm.sources import resolve_model
    resolve_model("runs/ckpt")                      # -> Path("runs/ckpt")
    resolve_model("HuggingFaceTB/SmolLM2-135M")     # -> the Hub cache's snapshot folder
"""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

from squeeze.core.errors import SqueezeError

ADAPTER_CONFIG = "adapter_config.json"
# owner/name as the Hub spells it; a path that exists locally always wins over this reading.
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
# Only what loading needs: weights as safetensors, configs, tokenizer files, chat templates.
HUB_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]
CONNECT_TIMEOUT_S = 3.0


class ModelLoadError(SqueezeError):
    """A model that cannot be found, downloaded or loaded."""


def is_hf_folder(path: Path) -> bool:
    return (path / "config.json").is_file()


def is_adapter_folder(path: Path) -> bool:
    return (path / ADAPTER_CONFIG).is_file() and not is_hf_folder(path)


def is_model_folder(path: str | os.PathLike) -> bool:
    """A folder `load_model` can load: a Hugging Face model or a PEFT adapter."""
    path = Path(path)
    return is_hf_folder(path) or is_adapter_folder(path)


def resolve_model(source: str | os.PathLike, what: str = "model") -> Path:
    """A local folder holding `source` (a Hugging Face model or a PEFT adapter); see the module doc."""
    from squeeze.lm.gguf import KNOWN_GGUF, GGUFError, is_gguf_source, resolve_model_source

    text = str(source).strip()
    if not text:
        raise ModelLoadError(f"no {what} given")
    if is_gguf_source(text):
        try:
            return Path(resolve_model_source(text))
        except GGUFError as exc:
            raise ModelLoadError(str(exc)) from exc
    path = Path(text).expanduser()
    if path.is_dir():
        if is_model_folder(path):
            return path
        raise ModelLoadError(f"{what} {text}: the folder has neither config.json nor {ADAPTER_CONFIG}")
    if path.exists():
        raise ModelLoadError(f"{what} {text}: a file, not a model folder, .gguf file or Hub id")
    if HUB_ID.match(text):
        return hub_snapshot(text, what)
    raise ModelLoadError(
        f"no {what} at {text}: not a folder, a .gguf file, a known GGUF name ({', '.join(sorted(KNOWN_GGUF))}) "
        "or a Hub id (owner/name)"
    )


def resolve_in_run(source: str | os.PathLike, subfolders: tuple[str, ...], what: str = "model") -> Path:
    """`source` itself or its first sub-folder in `subfolders` that holds a model (a run folder),
    else whatever `resolve_model` makes of the name."""
    root = Path(str(source)).expanduser()
    for candidate in (root, *(root / sub for sub in subfolders)):
        if candidate.is_dir() and is_model_folder(candidate):
            return candidate
    if root.is_dir():
        inside = " or ".join(f"{root}/{sub}" for sub in subfolders)
        raise ModelLoadError(
            f"no {what} at {root}: expected config.json or {ADAPTER_CONFIG} in it"
            + (f" or in {inside}" if inside else "")
        )
    return resolve_model(source, what)


def config_folder(folder: str | os.PathLike) -> Path:
    """The folder whose config.json describes the model in `folder`: itself, or an adapter's base."""
    folder = Path(folder)
    seen = set()
    while is_adapter_folder(folder) and folder not in seen:  # an adapter on an adapter: follow the chain
        seen.add(folder)
        folder = resolve_model(adapter_base(folder), what="adapter base")
    return folder


def adapter_base(adapter_dir: Path) -> str:
    """The base model an adapter folder names in its adapter_config.json."""
    try:
        config = json.loads((adapter_dir / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read {adapter_dir / ADAPTER_CONFIG}: {exc}") from exc
    base = config.get("base_model_name_or_path")
    if not base:
        raise ModelLoadError(f"{adapter_dir / ADAPTER_CONFIG} names no base_model_name_or_path")
    # A relative base is read relative to the adapter folder when that is where it exists.
    beside = adapter_dir / base
    return str(beside) if not Path(base).is_absolute() and beside.exists() else base


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _reachable(endpoint: str) -> str | None:
    """None when a TCP connection to the endpoint (or the proxy in between) opens, else why not."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy") or os.environ.get("ALL_PROXY")
    url = urlparse(proxy if proxy and endpoint.startswith("https") else endpoint)
    host, port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
    if not host:
        return f"bad endpoint {endpoint!r}"
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"


def hub_snapshot(repo_id: str, what: str = "model") -> Path:
    """The local snapshot folder of a Hub model: from the cache, else downloaded once."""
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(repo_id, allow_patterns=HUB_FILES, local_files_only=True))
        if is_model_folder(folder):
            return folder
    except Exception:  # not cached (the hub client raises several types for that)
        pass
    hint = f"download it where the network allows (`hf download {repo_id}`) and pass the folder"
    if _offline():
        raise ModelLoadError(f"{what} {repo_id} is not in the local Hub cache and HF_HUB_OFFLINE is set; {hint}")
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    why = _reachable(endpoint)
    if why is not None:
        raise ModelLoadError(f"{what} {repo_id}: the Hub ({endpoint}) cannot be reached ({why}); {hint}")
    try:
        folder = Path(snapshot_download(repo_id, allow_patterns=HUB_FILES))
    except Exception as exc:  # unknown repo, gated repo, network failure mid-way
        raise ModelLoadError(f"{what} {repo_id}: download from {endpoint} failed: {type(exc).__name__}: {exc}") from exc
    if not is_model_folder(folder):
        raise ModelLoadError(f"{what} {repo_id}: the Hub repository has no config.json (not a transformers model)")
    return folder
