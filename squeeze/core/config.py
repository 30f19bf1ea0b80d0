"""Configs are dataclasses with help text; YAML on top; `key=value` overrides last.

The resolved config is written into every run directory (`config.yaml`), so a result always
says how it was made. No interpolation: what the file says is what runs. A dotted key
(`method.lam=0.3`) sets one entry of a dict-valued field, or one field of a nested config
(`judge.model=NAME` for a field typed by another config dataclass). A nested config class
with a `from_string(text)` classmethod also takes a string (`judge: hf`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from squeeze.core.errors import ConfigError

T = TypeVar("T")


def option(default: Any, help: str, *, flags: Sequence[str] = (), metavar: str | None = None, **kwargs) -> Any:
    """A dataclass field with help text (shown by `--help` and kept in the resolved YAML).

    `flags`: extra spellings of its command-line flag (`--quiet`-style constant flags are the
    command's own); `metavar`: the value's name in `--help`.
    """
    metadata = {"help": help, "flags": tuple(flags), "metavar": metavar}
    if dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda: dataclasses.replace(default), metadata=metadata, **kwargs)
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata, **kwargs)
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


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
        value = float(value)
    if hint is float and isinstance(value, str):  # YAML 1.1 reads `1e-4` (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            pass
    if hint is float and isinstance(value, float) and not math.isfinite(value):
        # nan, inf, and literals too large for a float (1e400 reads as inf): never a setting.
        raise ConfigError(f"{cls_name}.{name} must be a finite number, got {value!r}")
    if hint is float and isinstance(value, float):
        return value
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


def nested_config_class(annotation: Any) -> type | None:
    """The config dataclass a field is typed by (a nested config), else None."""
    return annotation if isinstance(annotation, type) and dataclasses.is_dataclass(annotation) else None


def _nested_values(sub_cls: type, value: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(value):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, str) and hasattr(sub_cls, "from_string"):
        return _nested_values(sub_cls, sub_cls.from_string(value))
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{sub_cls.__name__} must be a mapping, got {type(value).__name__} {value!r}")
    return dict(value)


def build_config(cls: type[T], values: dict[str, Any]) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    merged: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        top, _, sub = key.partition(".")
        if top not in fields:
            raise ConfigError(f"unknown {cls.__name__} key {top!r}; known keys: {', '.join(sorted(fields))}")
        sub_cls = nested_config_class(hints[top])
        if sub_cls is not None:  # later values update earlier ones, field by field
            nested.setdefault(top, {}).update({sub: value} if sub else _nested_values(sub_cls, value))
        elif sub:
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
    for top, sub_values in nested.items():
        checked[top] = build_config(nested_config_class(hints[top]), sub_values)
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
    cls: type[T],
    yaml_paths: Sequence[str | os.PathLike] = (),
    overrides: Sequence[str] = (),
    base: dict[str, Any] | None = None,
    **values: Any,
) -> T:
    """Defaults, then `base`, then each YAML file in order, then keyword values (None: not
    given), then `key=value` strings: each later source wins, key by key."""
    sources = [base or {}, *(load_yaml(path) for path in yaml_paths)]
    sources += [{k: v for k, v in values.items() if v is not None}, parse_overrides(overrides)]
    hints = typing.get_type_hints(cls)
    merged: dict[str, Any] = {}
    for source in sources:
        for key, value in source.items():
            _merge_into(merged, key, value, hints)
    return build_config(cls, merged)


def _merge_into(merged: dict[str, Any], key: str, value: Any, hints: dict[str, Any]) -> None:
    top, _, sub = key.partition(".")
    sub_cls = nested_config_class(hints.get(top))
    if sub_cls is not None:  # a nested config: merged field by field, whatever form each source gives
        merged.setdefault(top, {}).update({sub: value} if sub else _nested_values(sub_cls, value))
    elif isinstance(value, dict) and isinstance(merged.get(key), dict):
        merged[key] = {**merged[key], **value}
    else:
        merged[key] = value


def check_ranges(cfg: Any, rules: dict[str, tuple[float | None, float | None]]) -> None:
    """One clear error for the first field outside its [low, high] (None: unbounded).

    For the settings whose meaning has a range (a learning rate, a seed, a count); a
    dataclass's own `check()` calls it before any folder is created (issue 14).
    """
    for name, (low, high) in rules.items():
        value = getattr(cfg, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = (
                f"in [{low}, {high}]"
                if low is not None and high is not None
                else (f">= {low}" if low is not None else f"<= {high}")
            )
            raise ConfigError(f"{name} must be {bounds}, got {value!r}")


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def to_yaml(cfg: Any) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def describe(cls: type, prefix: str = "") -> str:
    """One line per key with its default and help, for `--help` epilogs."""
    lines = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        sub_cls = nested_config_class(hints[f.name])
        if sub_cls is not None:
            lines.append(describe(sub_cls, prefix=f"{prefix}{f.name}."))
            continue
        lines.append(f"  {prefix}{f.name} (default {_default_of(f)!r}): {f.metadata.get('help', '')}")
    return "\n".join(lines)
