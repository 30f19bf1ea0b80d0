"""The reliability suite (issue 14): one test per failure a hostile or clumsy user found.

Each test reproduces the failure against the real component (the loopback judge server of
tests/helpers/judge_server.py with a fault plan, real subprocesses, tiny real models) and asserts
the behaviour a user would expect instead. Its tiny-run builders are tests/helpers/tiny_runs.py.
"""
