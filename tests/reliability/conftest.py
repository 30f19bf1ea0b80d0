"""The reliability suite (issue 14): one test per failure a hostile or clumsy user found.

Each test reproduces the failure against the real component (the loopback judge server of
tests/judge_server.py with a fault plan, real subprocesses, tiny real models) and asserts
the behaviour a user would expect instead.
"""

import sys
from pathlib import Path

# tests/ holds judge_server.py and the shared tiny-model helpers.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
