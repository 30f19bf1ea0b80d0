"""The package's own defaults (squeeze/defaults/), found with importlib.resources (issue 12, item 4).

Every default YAML that a stage reads when the user names no file goes through here, so an
installed wheel reads exactly what a checkout reads: no path is built from `__file__`, and a
missing default is a clear error instead of a silent fall-back to uncalibrated values.

    from squeeze.core.resources import VERDICT_THRESHOLDS, default_file
    path = default_file(VERDICT_THRESHOLDS)       # .../squeeze/defaults/verdict.yaml
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from squeeze.core.errors import ConfigError

PACKAGE = "squeeze.defaults"
# Paths inside squeeze/defaults/.
VERDICT_THRESHOLDS = "verdict.yaml"
EMBEDDING_JUDGE = "judges/embedding.yaml"
AGGREGATES = "benchmarks/aggregates.yaml"


def defaults_dir() -> Path:
    """The folder of the packaged defaults (a real folder: setuptools installs packages unzipped,
    and judge-calibrate --write-config writes into it)."""
    root = resources.files(PACKAGE)
    if not isinstance(root, Path) or not root.is_dir():
        raise ConfigError(f"the packaged defaults ({PACKAGE}) are not a folder on disk: {root}")
    return root


def default_file(relative: str) -> Path:
    """`squeeze/defaults/<relative>`; a ConfigError when the install lacks it."""
    path = defaults_dir().joinpath(*relative.split("/"))
    if not path.is_file():
        raise ConfigError(f"the installed squeeze lacks its packaged default {relative} (looked in {path.parent})")
    return path
