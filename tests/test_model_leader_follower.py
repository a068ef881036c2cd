"""What each leader-follower design is known for, shown on the model's own histories."""

import io

import pytest

from replicheck.checker import History, check, parse_history, write_jsonl
from replicheck.model.config import parse_config, run
from replicheck.model.leader_follower import Orchestrator

SLOW = "--link n1-n2=constant:30 --link n1-n3=constant:30"


def verdict(text):
    """Run, write the JSON Lines file `simulate --out` would, and judge it with no flags."""
    r = run(parse_config(text))
    buf = io.StringIO()
    write_jsonl(buf, r.events, r.meta)
    return r, check(parse_history(buf.getvalue())).valid


def ryw_violations(events):
    """Session reads that miss the session's own last acknowledged write.

    A read misses it when it returns nothing, or a value whose write was acknowledged
    before the session's write was even invoked. (To move onto the consistency checker's
    read-your-writes once it lands.)
    """
    invoked, acked, last_write, bad = {}, {}, {}, 0
    for e in events:
        if e["process"] == "nemesis":
            continue
        if e["type"] == "invoke":
            invoked[e["process"]] = e
        elif e["type"] == "ok" and e["f"] == "write":
            acked[e["value"]] = e["time"]
            last_write[e["session"]] = invoked[e["process"]]["time"]
        elif e["type"] == "ok" and e["f"] == "read" and e["session"] in last_write:
            mine = last_write[e["session"]]
            if e["value"] is None or acked.get(e["value"], float("inf")) < mine:
                bad += 1
    return bad


def test_sync_replication_with_leader_reads_is_linearizable():
    for seed in range(4):
        _, ok = verdict(
            f"leader-follower --replication sync --reads leader --ops 300 --seed {seed} --latency pareto-exp:1,0.05,5,1.5"
        )
        assert ok is True


def test_async_replica_reads_are_stale():
    r, ok = verdict(f"leader-follower --replication async --reads replica --ops 300 {SLOW}")
    assert ok is False
    assert ryw_violations(r.events) > 0


@pytest.fixture
def logs_at_failover(monkeypatch):
    """The replicas' log lengths each time the orchestrator looks, by simulated time:
    the model state a promotion is decided on."""
    seen: dict[int, dict[str, int]] = {}
    watch = Orchestrator.watch

    def spy(self):
        seen[self.sim.now] = {r.id: len(r.log) for r in self.c.replicas}
        return watch(self)

    monkeypatch.setattr(Orchestrator, "watch", spy)
    return seen


def most_up_to_date(logs: dict[str, int], old_leader: str) -> str:
    # the model's rule: the longest log among the followers, ties to the lowest number
    followers = [n for n in logs if n != old_leader]
    return max(followers, key=lambda n: (logs[n], -int(n[1:])))


def test_async_auto_failover_loses_acknowledged_writes(logs_at_failover):
    r, ok = verdict(
        "leader-follower --replication async --failover auto --ops 400 --read-ratio 0.9 "
        "--partition 60:n1|n2,n3 --crash n1@100"
    )
    assert r.measurements["acked_writes_lost"] > 0
    [failover] = r.measurements["failovers"]
    assert failover["from"] == "n1"
    assert failover["to"] == most_up_to_date(logs_at_failover[failover["time"]], "n1")
    assert ok is False


@pytest.mark.parametrize("lagging, ahead", [("n2", "n3"), ("n3", "n2")])
def test_failover_promotes_the_most_up_to_date_follower(logs_at_failover, lagging, ahead):
    # a slow link to one follower leaves it behind when the leader is cut off
    r, _ = verdict(
        "leader-follower --replication async --failover auto --ops 400 --read-ratio 0.3 "
        f"--partition 60:n1|n2,n3 --crash n1@100 --link n1-{lagging}=constant:30"
    )
    [failover] = r.measurements["failovers"]
    logs = logs_at_failover[failover["time"]]
    assert logs[ahead] > logs[lagging], logs  # the scenario separates them, so the rule decides
    assert failover["to"] == ahead == most_up_to_date(logs, "n1")


def test_sync_failover_loses_no_acknowledged_write():
    r, _ = verdict(
        "leader-follower --replication sync --failover auto --ops 400 --partition 60:n1|n2,n3 --crash n1@100"
    )
    assert r.measurements["acked_writes_lost"] == 0 and r.measurements["failovers"]


def test_revived_leader_without_fencing_is_split_brain_and_fencing_stops_it():
    base = "leader-follower --replication async --failover auto --ops 600 --crash n1@60 --restart n1@250 --stale-clients 2"
    naive, _ = verdict(base)
    assert naive.measurements["split_brain"] is True
    assert naive.final_states["n1"]["role"] == "leader" and naive.final_states["n2"]["role"] == "leader"
    fenced, _ = verdict(base + " --fencing")
    assert fenced.measurements["split_brain"] is False
    assert fenced.measurements["acked_writes_lost"] == 0
    assert fenced.final_states["n1"]["role"] == "follower"
    rejected = [
        e for e in fenced.events if e["type"] == "fail" and e["f"] == "write" and e.get("node") == "n1"
    ]
    assert rejected, "the revived leader should have refused the stale clients' writes"


def test_pin_after_write_fails_read_your_writes_once_lag_exceeds_the_window():
    pinned, _ = verdict(
        f"leader-follower --reads pin-after-write:5 --ops 400 --clients 2 --think-ms 8 {SLOW}"
    )
    assert ryw_violations(pinned.events) > 0
    wide, _ = verdict(f"leader-follower --reads pin-after-write:60 --ops 400 --clients 2 --think-ms 8 {SLOW}")
    assert ryw_violations(wide.events) == 0


def test_wait_for_position_always_reads_your_writes():
    for seed in range(3):
        r, _ = verdict(
            f"leader-follower --reads wait-for-position --ops 400 --clients 3 --timeout-ms 200 --seed {seed} {SLOW} --reorder 0.1 --loss 0.01"
        )
        assert ryw_violations(r.events) == 0
        assert any(e["type"] == "ok" and e["f"] == "read" and e["node"] != "n1" for e in r.events)


def test_cas_register_and_kv_workloads_are_linearizable_at_the_leader():
    _, ok = verdict("leader-follower --replication semi-sync:1 --workload cas-register --ops 300")
    assert ok is True
    r, ok = verdict("leader-follower --replication sync --workload kv --ops 300")
    assert ok is True and r.meta["spec"] == "kv"


def test_list_append_histories_are_well_formed():
    r = run(parse_config("leader-follower --workload list-append --ops 200 --seed 2"))
    History.from_events(r.events, meta=r.meta)  # pairs and validates
    appended = {e["value"][0][2] for e in r.events if e["type"] == "ok" and e["value"][0][0] == "append"}
    for e in r.events:
        if e["type"] == "ok" and e["value"][0][0] == "r":
            lst = e["value"][0][2]
            assert len(set(lst)) == len(lst) and set(lst) <= appended | {
                x["value"][0][2] for x in r.events if x["type"] == "info"
            }


def test_list_append_histories_are_judged_by_the_checker(tmp_path):
    # the model writes Elle's one-micro-op txn shape; the checker reads it as list-append
    from replicheck.checker import check as judge
    from replicheck.checker import read_history, write_jsonl

    res = run(
        parse_config(
            "leader-follower --workload list-append --replication sync --reads leader --ops 150 --seed 3"
        )
    )
    path = tmp_path / "la.jsonl"
    write_jsonl(path, res.events, res.meta)
    assert judge(read_history(path)).valid is True
    stale = run(
        parse_config(
            "leader-follower --workload list-append --replication async --reads replica --ops 300 --seed 2"
        )
    )
    write_jsonl(path, stale.events, stale.meta)
    assert judge(read_history(path)).valid is False
