"""Make modules look not installed, as recsmith's extras check and ``import`` see them (tests only).

A finder placed first on ``sys.meta_path`` refuses the blocked top-level names, so ``import torch``
raises ``ModuleNotFoundError`` and ``importlib.util.find_spec("torch")`` finds nothing. (``None`` in
``sys.modules``, Python's other way to block an import, leaves the name in ``sys.modules``, where
libraries such as SciPy look for torch and then fail on the ``None``.)
"""

from __future__ import annotations

import importlib.abc
import sys


class ModuleBlocker(importlib.abc.MetaPathFinder):
    def __init__(self, names: list[str] | tuple[str, ...]) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (blocked by the test)", name=fullname)
        return None


def block_in_fresh_process(names: list[str] | tuple[str, ...]) -> None:
    """Block ``names`` in a process that has not imported them (a subprocess of a test)."""
    sys.meta_path.insert(0, ModuleBlocker(names))
