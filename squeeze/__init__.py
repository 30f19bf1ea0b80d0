"""squeeze: tell whether an LLM has really forgotten something, or only seems to.

Start with `squeeze/core/types.py`: every contract the modules talk through lives there.
"""

__version__ = "0.1.0"
