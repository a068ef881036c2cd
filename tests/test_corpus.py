"""Every reference history from real systems gets the verdict its authors established.

The corpus lives outside the repository (``../shared/corpus``, or $REPLICHECK_CORPUS)
and is not ours to copy in; without it these tests skip with a reason.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import pytest

from replicheck.checker import check, read_history


def _corpus() -> Path:
    env = os.environ.get("REPLICHECK_CORPUS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


CORPUS = _corpus()

# Knossos's data/ folder ships no verdict file; these are from the corpus README.
KNOSSOS = {
    "rethink-fail-minimal.edn": False,
    "cas-failure.edn": False,
    "bad-analysis.edn": False,
    "cas-register-bug.edn": True,
    "memstress3-33.edn": True,
}

# How each folder's histories are judged: spec, initial value, nil_read.
# etcd: the register starts absent (nil) and a read of nil means absent. Knossos checks
# its files from 0 with its rule that a nil read is a read of unknown value.
JUDGE = {
    "jepsen-etcd": ("cas-register", None, "absent"),
    "knossos": ("cas-register", 0, "unknown"),
    "porcupine-kv": ("kv", "", "absent"),
}

VERDICTS = {"valid": True, "invalid": False}


def _expected(folder: str) -> dict[str, bool]:
    if folder == "knossos":
        return KNOSSOS
    rows = {}
    for line in (CORPUS / folder / "expected.tsv").read_text().splitlines():
        if line.strip():
            name, verdict = line.split("\t")
            rows[name] = VERDICTS[verdict.strip()]
    return rows


def _cases():
    if not CORPUS.is_dir():
        return [
            pytest.param(
                None,
                None,
                None,
                marks=pytest.mark.skip(
                    reason=f"reference corpus not found at {CORPUS} (set REPLICHECK_CORPUS)"
                ),
            )
        ]
    cases = []
    for folder in JUDGE:
        if not (CORPUS / folder).is_dir():
            cases.append(
                pytest.param(
                    folder,
                    None,
                    None,
                    id=folder,
                    marks=pytest.mark.skip(reason=f"{CORPUS / folder} is absent"),
                )
            )
            continue
        for name, valid in sorted(_expected(folder).items()):
            cases.append(pytest.param(folder, name, valid, id=f"{folder}/{name}"))
    return cases


@cache
def _history(folder: str, name: str):
    return read_history(CORPUS / folder / name)


@pytest.mark.parametrize("folder, name, valid", _cases())
def test_corpus_verdict(folder: str, name: str, valid: bool) -> None:
    spec, init, nil_read = JUDGE[folder]
    result = check(_history(folder, name), spec, init=init, nil_read=nil_read)
    assert result.valid is valid, f"{folder}/{name}: expected {valid}, got {result.valid!r}"
    # the evidence a user would read must be there too
    if valid:
        assert result.witness is not None
    else:
        assert result.op is not None and result.op.status == "ok"


@pytest.mark.parametrize(
    "folder, name, valid", [c for c in _cases() if c.values[0] == "jepsen-etcd"] or _cases()
)
def test_etcd_verdicts_do_not_depend_on_reading_nil_as_unknown(folder, name, valid) -> None:
    # The corpus README says both readings of nil give the same verdicts on the etcd logs;
    # the log format defaults to Knossos's rule, so `replicheck check` with no flags
    # relies on it.
    result = check(_history(folder, name), "cas-register", init=None, nil_read="unknown")
    assert result.valid is valid


def test_every_corpus_file_has_a_verdict() -> None:
    # a history added to the corpus without a verdict would otherwise go unchecked
    if not CORPUS.is_dir():
        pytest.skip(f"reference corpus not found at {CORPUS}")
    for folder in JUDGE:
        if not (CORPUS / folder).is_dir():
            continue
        on_disk = {p.name for p in (CORPUS / folder).iterdir()} - {"expected.tsv"}
        assert on_disk == set(_expected(folder)), folder
