"""Rewrite the reference trajectories (tests/reference_trajectories/<method>.json).

Run it only when a change is meant to move them (a loss, the trainer's batching, the
optimizer step), and say why in the commit:

    .venv/bin/python tests/reference_trajectories/regenerate.py [METHOD ...]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the helpers package

from helpers.trajectories import trajectory, trajectory_inputs, write_reference  # noqa: E402

import methods  # noqa: E402


def main(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as root:
        inputs = trajectory_inputs(Path(root) / "inputs")
        for name in names or list(methods.OBJECTIVES):
            print(write_reference(trajectory(name, inputs, Path(root) / name)))


if __name__ == "__main__":
    main(sys.argv[1:])
