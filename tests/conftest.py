"""Shared test configuration: the Hypothesis profiles.

Tests set only how many examples they want (``@settings(max_examples=...)``); whether
those examples are the same on every run is the profile's call, chosen with the
environment variable REPLICHECK_HYPOTHESIS_PROFILE:

- ``ci`` (the default): derandomized, no example database, no deadline. Every run and
  every machine sees the same examples, so CI is reproducible and a red build replays.
- ``dev``: randomized, with the example database in ``.hypothesis/``. Each run tries new
  examples, and one that failed is tried first on the next run.

Hypothesis searches run by the product itself (``replicheck explore``) use
``replicheck.model.explore.ci_settings`` and stay derandomized whatever the profile.
The test tiers (``-m "not slow"``) are described in README.md.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.errors import InvalidArgument

PROFILE_ENV = "REPLICHECK_HYPOTHESIS_PROFILE"

# Generated histories are large by design (the oracle needs hard cases), so the health
# checks for slow or large data would only add noise; a deadline would make results
# depend on how loaded the machine is.
_COMMON: dict[str, Any] = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

settings.register_profile("ci", derandomize=True, database=None, print_blob=False, **_COMMON)
settings.register_profile("dev", derandomize=False, print_blob=True, **_COMMON)


def _load_profile() -> str:
    name = os.environ.get(PROFILE_ENV, "ci")
    try:
        settings.load_profile(name)
    except InvalidArgument:
        raise pytest.UsageError(f"{PROFILE_ENV}={name!r}: no such Hypothesis profile (ci, dev)") from None
    return name


PROFILE = _load_profile()


def pytest_report_header(config) -> str:
    return f"hypothesis profile: {PROFILE} (set {PROFILE_ENV}=ci|dev)"
