"""Helpers shared by the test modules: real components built for tests, not tests themselves.

- `tiny_trained`: a tiny Llama that memorised a few world facts (the `trained_world` fixture)
- `judge_server`: a real OpenAI-compatible loopback server with a scoring rule and faults
- `trainer_runs`: tiny QA files and an original model for the trainer, and readers of a run
- `diagnose_runs`: a tiny world, original and two checkpoints, and their diagnose outputs

The rule (tests/test_import_graph.py checks it): a test module imports from `helpers`, never
from another test module; state that is costly to build (a trained model, a diagnosed run)
reaches tests through the session fixtures of tests/conftest.py, so it is built once.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the checkout's root
