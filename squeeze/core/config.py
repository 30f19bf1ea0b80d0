"""Configs are dataclasses with help text; YAML on top; `key=value` overrides last.

The resolved config is written into every run directory (`config.yaml`), so a result always
says how it was made. No interpolation: what the file says is what runs. A dotted key
(`method.lam=0.3`) sets one entry of a dict-valued field.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from squeeze.core.errors import ConfigError

T = TypeVar("T")


def option(default: Any, help: str, **kwargs) -> Any:
    """A dataclass field with help text (shown by `--help` and kept in the resolved YAML)."""
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"help": help}, **kwargs)
    return dataclasses.field(default=default, metadata={"help": help}, **kwargs)


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        try:
            values[key.strip()] = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"cannot parse the value of override {item!r}: {exc}") from exc
    return values


def _check_type(cls_name: str, name: str, value: Any, annotation: Any) -> Any:
    hint = annotation
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        hint = args[0] if len(args) == 1 else Any
        origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):  # YAML 1.1 reads `1e-4` (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    check = origin or hint
    if check is typing.Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{cls_name}.{name} must be one of {list(allowed)}, got {value!r}")
        return value
    if isinstance(check, type) and not isinstance(value, check):
        raise ConfigError(f"{cls_name}.{name} must be {check.__name__}, got {type(value).__name__} {value!r}")
    if check is int and isinstance(value, bool):
        raise ConfigError(f"{cls_name}.{name} must be int, got bool {value!r}")
    return value


def build_config(cls: type[T], values: dict[str, Any]) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    merged: dict[str, Any] = {}
    for key, value in values.items():
        top, _, sub = key.partition(".")
        if top not in fields:
            raise ConfigError(f"unknown {cls.__name__} key {top!r}; known keys: {', '.join(sorted(fields))}")
        if sub:
            base = dict(merged.get(top) or _default_of(fields[top]) or {})
            base[sub] = value
            merged[top] = base
        elif isinstance(value, dict) and typing.get_origin(hints[top]) is dict:
            base = dict(merged.get(top) or _default_of(fields[top]) or {})
            base.update(value)
            merged[top] = base
        else:
            merged[top] = value
    checked = {k: _check_type(cls.__name__, k, v, hints[k]) for k, v in merged.items()}
    return cls(**checked)


def _default_of(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return field.default_factory()  # type: ignore[misc]
    return None


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a mapping at the top level")
    return data


def resolve_config(
    cls: type[T], yaml_paths: Sequence[str | os.PathLike] = (), overrides: Sequence[str] = (), **values: Any
) -> T:
    """Defaults, then each YAML file in order, then keyword values, then `key=value` strings."""
    merged: dict[str, Any] = {}
    for path in yaml_paths:
        for key, value in load_yaml(path).items():
            _merge_into(merged, key, value)
    for key, value in values.items():
        if value is not None:
            _merge_into(merged, key, value)
    for key, value in parse_overrides(overrides).items():
        _merge_into(merged, key, value)
    return build_config(cls, merged)


def _merge_into(merged: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, dict) and isinstance(merged.get(key), dict):
        merged[key] = {**merged[key], **value}
    else:
        merged[key] = value


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def to_yaml(cfg: Any) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def describe(cls: type) -> str:
    """One line per key with its default and help, for `--help` epilogs."""
    lines = []
    for f in dataclasses.fields(cls):
        lines.append(f"  {f.name} (default {_default_of(f)!r}): {f.metadata.get('help', '')}")
    return "\n".join(lines)
