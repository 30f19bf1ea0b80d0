"""The judges registry, and the rule that `judges` is a leaf package that never imports squeeze."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import judges
from judges import JUDGES, make_judge

JUDGES_DIR = Path(judges.__file__).parent


def test_registry_names_and_factories():
    assert set(JUDGES) == {"embedding", "openai", "hf"}
    assert all(callable(factory) for factory in JUDGES.values())
    judge = make_judge("openai", base_url="http://127.0.0.1:9/v1", model="m")
    assert (judge.backend, judge.model, judge.prompt_version) == ("openai", "m", "v1")
    with pytest.raises(ValueError, match="unknown judge 'nope'; known: embedding, hf, openai"):
        make_judge("nope")


def test_no_judges_module_imports_squeeze():
    for path in JUDGES_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            assert not any(n == "squeeze" or n.startswith("squeeze.") for n in names), f"{path} imports {names}"


def test_importing_every_backend_loads_no_squeeze_module():
    code = (
        "import sys, judges, judges.openai_judge, judges.hf_judge, judges.embedding_judge, judges.cache, "
        "judges.features, judges.parsing, judges.prompting; "
        "print(sorted(m for m in sys.modules if m == 'squeeze' or m.startswith('squeeze.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
