"""The bench's history generator, importable from tests (bench/ is scripts, not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_BENCH = Path(__file__).resolve().parent.parent / "bench"


def gen_histories() -> ModuleType:
    """bench/gen_histories.py, loaded once under the name every test gives it."""
    if "gen_histories" in sys.modules:
        return sys.modules["gen_histories"]
    spec = importlib.util.spec_from_file_location("gen_histories", _BENCH / "gen_histories.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gen_histories"] = mod  # before running it: its dataclasses look themselves up
    spec.loader.exec_module(mod)
    return mod
