"""Fixtures shared by the test modules (the builders live in tests/helpers/).

Costly state is built once per session and shared: treat it as read-only (a test that
changes a model or a run folder copies it first).
"""

from __future__ import annotations

import pytest
import torch
from helpers.diagnose_runs import build_diagnose_setup, diagnose_both
from helpers.tiny_trained import trained_world_model


@pytest.fixture(scope="module")
def one_thread():
    """Tiny matrices: on a shared CPU, thread hand-offs cost far more than the arithmetic, and
    one thread makes float sums reproducible. Opt in with `pytest.mark.usefixtures`."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def trained_world():
    """(model in eval mode, tokenizer, world, forget records, retain records): a tiny Llama that
    memorised every answer template of a few world facts (helpers/tiny_trained.py)."""
    return trained_world_model()


@pytest.fixture(scope="session")
def diagnose_setup(tmp_path_factory):
    """Paths of a tiny world, its original model, a GA run folder and a bare spurious checkpoint."""
    return build_diagnose_setup(tmp_path_factory.mktemp("diagnose"))


@pytest.fixture(scope="session")
def diagnosed_runs(diagnose_setup):
    """{"ga": RUN/diagnose, "spurious": the bare checkpoint's diagnose folder}."""
    return diagnose_both(diagnose_setup)
