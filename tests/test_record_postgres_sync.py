"""PostgreSQL's synchronous_commit modes with a synchronous standby
(scripts/pg-cluster.sh --sync): only remote_apply makes a commit wait until the standby
has applied it, so only remote_apply keeps read-your-writes for reads on the standby.
The standby replays 100 ms late, so the difference always shows."""

from __future__ import annotations

import pytest
from cluster_scripts import check, record, started

pytestmark = pytest.mark.slow
DELAY_MS = 100


@pytest.fixture(scope="module")
def sync_cluster(tmp_path_factory):
    with started("pg-cluster.sh", tmp_path_factory.mktemp("pgsync"), "--sync", "--delay", str(DELAY_MS)) as d:
        yield d


def ryw(cluster: dict, out, mode: str) -> tuple[dict, bool]:
    s = record(
        "postgres",
        out,
        "--primary",
        cluster["PRIMARY"],
        "--replica",
        cluster["REPLICA"],
        "--routing",
        "replica",
        "--synchronous-commit",
        mode,
        *["--clients", "8", "--ops", "400", "--think-ms", "10", "--seed", "7"],
    )
    assert s["synchronous_commit"] == mode and s["reads"]["replica"] > 0
    code, result = check(out, "--consistency", "read-your-writes")
    valid = result["models"]["read-your-writes"]["valid"]
    assert code == (0 if valid else 1)
    return s, valid


def test_remote_apply_keeps_read_your_writes_on_the_standby(sync_cluster, tmp_path):
    s, valid = ryw(sync_cluster, tmp_path / "h.jsonl", "remote_apply")
    assert valid is True
    # the price: every commit waited for the standby's (delayed) replay
    assert s["write_ms"]["p50"] >= DELAY_MS


@pytest.mark.parametrize("mode", ["on", "remote_write"])
def test_weaker_modes_acknowledge_before_the_standby_applies(sync_cluster, tmp_path, mode):
    _, valid = ryw(sync_cluster, tmp_path / "h.jsonl", mode)
    assert valid is False
