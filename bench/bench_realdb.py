"""The sync-vs-async table, measured on real servers: for each system and mode, start a
throwaway cluster (scripts/*-cluster.sh), record one run with its fault, and count from
the history:

- write p50 / p99 / max: acknowledged writes' latency (ms), from the recorder's summary;
- acked lost: acknowledged appends that no final read of their row contains (the
  writes ``check --consistency durability`` flags), out of all acknowledged appends;
- stale reads: reads (before the final ones) missing an append to their row that was
  acknowledged before the read was invoked, out of all successful reads;
- info: writes whose fate is unknown (timeouts, lost connections, WAIT not met);
- the verdicts of ``replicheck check`` (linearizable) and ``--consistency durability``.

One run per row, seeded; the machine is shared, so latencies are noisy. A cluster that
cannot start is reported and skipped. Asserts nothing.
Then prints ``replicheck compare`` (the simulator) for the same shape, a leader and two
followers, to set beside it.
Run: .venv/bin/python bench/bench_realdb.py [--only SUBSTRING] [--ops N] [--keep DIR] [--no-sim]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from click.testing import CliRunner

from replicheck.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent


def start(script: str, where: Path, *args: str) -> dict[str, str] | str:
    res = subprocess.run(
        ["bash", str(ROOT / "scripts" / script), "start", str(where), *args], capture_output=True, text=True
    )
    if res.returncode:
        return res.stderr.strip().splitlines()[0] if res.stderr.strip() else f"exit {res.returncode}"
    return {
        line.split("=", 1)[0].removesuffix("_DSN"): line.split("=", 1)[1].strip("'")
        for line in res.stdout.splitlines()
        if "_DSN=" in line
    }


def stop(script: str, where: Path) -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / script), "stop", str(where)], capture_output=True)


def measure(path: Path) -> dict:
    events = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    invoked: dict = {}
    acked: list[tuple[int, str, int]] = []  # (ack time, key, value)
    reads: list[tuple[int, str, list]] = []  # (invoke time, key, list read)
    final: dict[str, set] = {}
    for e in events:
        if e["process"] == "nemesis":
            continue
        if e["type"] == "invoke":
            invoked[e["process"]] = e
            continue
        if e["type"] != "ok":
            continue
        f, key, value = e["value"][0]
        if f == "append":
            acked.append((e["time"], key, value))
        elif e.get("session") == "final":
            final.setdefault(key, set()).update(value)
        else:
            reads.append((invoked[e["process"]]["time"], key, value))
    lost = sum(1 for _, key, v in acked if v not in final.get(key, set()))
    by_key: dict[str, list[tuple[int, int]]] = {}
    for t, key, v in acked:
        by_key.setdefault(key, []).append((t, v))
    stale = 0
    for t, key, seen in reads:
        s = set(seen)
        if any(at < t and v not in s for at, v in by_key.get(key, [])):
            stale += 1
    return {"acked": len(acked), "lost": lost, "reads": len(reads), "stale": stale}


def verdicts(path: Path) -> str:
    out = []
    for args, name in (((), "linearizable"), (("--consistency", "durability"), "durability")):
        res = CliRunner().invoke(cli, ["check", str(path), "--json", *args])
        data = json.loads(res.output)
        valid = data["models"]["durability"]["valid"] if args else data["valid"]
        out.append(f"{name} {'holds' if valid is True else 'VIOLATED' if valid is False else 'unknown'}")
    return ", ".join(out)


def scenarios(ops: int) -> list[tuple[str, str, list[str], str, list]]:
    """(row name, script, cluster args, system, record args with DSN placeholders)."""
    load = ["--ops", str(ops), "--think-ms", "2", "--seed", "1"]
    maria = ["--primary", "{PRIMARY}", "--replica", "{REPLICA}", "--replica", "{REPLICA2}", *load]
    kill = ["--kill-primary-after", "300"]
    etcd = ["--endpoint", "{N1}", "--endpoint", "{N2}", "--endpoint", "{N3}", *load]
    redis = [
        "--primary",
        "{PRIMARY}",
        "--replica",
        "{REPLICA}",
        "--replica",
        "{REPLICA2}",
        "--sentinel",
        "{SENTINEL}",
        "--sentinel",
        "{SENTINEL2}",
        "--sentinel",
        "{SENTINEL3}",
        *load,
        "--partition-after",
        "300",
        "--partition-ms",
        "2500",
    ]
    pg = ["--primary", "{PRIMARY}", "--replica", "{REPLICA}", *load]
    semi = ["--semi-sync", "after_sync", "--semi-sync-timeout", "5000"]
    return [
        ("postgres async, replica reads", "pg-cluster.sh", [], "postgres", [*pg, "--routing", "replica"]),
        (
            "postgres async, cut 200 ms + promote",
            "pg-cluster.sh",
            [],
            "postgres",
            [*pg, "--routing", "primary", "--failover-after", "300", "--failover-gap", "200"],
        ),
        (
            "mariadb async, replica reads",
            "mariadb-cluster.sh",
            [],
            "mariadb",
            [*maria, "--routing", "replica"],
        ),
        ("mariadb async, kill -9 + promote", "mariadb-cluster.sh", [], "mariadb", [*maria, *kill]),
        (
            "mariadb async, cut 300 ms, kill -9 + promote",
            "mariadb-cluster.sh",
            [],
            "mariadb",
            [*maria, *kill, "--cut-replication", "300"],
        ),
        (
            "mariadb semi-sync AFTER_SYNC, cut 300 ms, kill + promote",
            "mariadb-cluster.sh",
            semi,
            "mariadb",
            [*maria, *kill, "--cut-replication", "300"],
        ),
        (
            "mariadb semi-sync AFTER_COMMIT, cut 300 ms, kill + promote",
            "mariadb-cluster.sh",
            ["--semi-sync", "after_commit", "--semi-sync-timeout", "5000"],
            "mariadb",
            [*maria, *kill, "--cut-replication", "300"],
        ),
        (
            "mariadb semi-sync (timeout 1 s), its replica paused 2.5 s",
            "mariadb-cluster.sh",
            ["--semi-sync", "after_sync", "--semi-sync-timeout", "1000"],
            "mariadb",
            [*maria, "--pause-replica-after", "300", "--pause-ms", "2500"],
        ),
        ("etcd linearizable follower reads", "etcd-cluster.sh", [], "etcd", [*etcd, "--routing", "replica"]),
        (
            "etcd serializable follower reads",
            "etcd-cluster.sh",
            [],
            "etcd",
            [*etcd, "--routing", "replica", "--serializable"],
        ),
        (
            "etcd linearizable reads, leader kill -9",
            "etcd-cluster.sh",
            [],
            "etcd",
            [*etcd, "--routing", "replica", "--kill-leader-after", "300"],
        ),
        ("redis async, partition + Sentinel failover", "redis-cluster.sh", [], "redis", redis),
        (
            "redis WAIT 1 (300 ms), partition + failover",
            "redis-cluster.sh",
            [],
            "redis",
            [*redis, "--wait", "1", "--wait-timeout", "300"],
        ),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="run only the rows whose name contains this")
    ap.add_argument("--ops", type=int, default=3000)
    ap.add_argument("--keep", default=None, help="keep the histories in this directory")
    ap.add_argument("--no-sim", action="store_true", help="leave out the simulator's compare table")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-realdb."))
    keep = Path(args.keep) if args.keep else None
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
    print(
        "| system and mode | write p50 / p99 / max ms | acked lost | stale reads | info | verdicts |\n"
        "| --- | --- | --- | --- | --- | --- |"
    )
    for i, (name, script, cargs, system, rargs) in enumerate(scenarios(args.ops)):
        if args.only not in name:
            continue
        where = work / f"c{i}"
        dsns = start(script, where, *cargs)
        if isinstance(dsns, str):
            stop(script, where)  # whatever a failed start left running
            print(f"| {name} | skipped: {dsns} | | | | |")
            continue
        try:
            out = (keep or work) / f"{i:02d}-{system}.jsonl"
            res = CliRunner().invoke(
                cli, ["record", system, *[a.format(**dsns) for a in rargs], "--out", str(out), "--json"]
            )
        finally:
            stop(script, where)
        if res.exit_code:
            print(f"| {name} | failed: {res.output.strip()[:100]} | | | | |")
            continue
        s = json.loads(res.output)
        m = measure(out)
        w = s.get("write_ms", {})
        print(
            f"| {name} | {w.get('p50', '-')} / {w.get('p99', '-')} / {w.get('max', '-')} "
            f"| {m['lost']} of {m['acked']} | {m['stale']} of {m['reads']} "
            f"({100 * m['stale'] / max(1, m['reads']):.1f}%) | {s['info']} | {verdicts(out)} |",
            flush=True,
        )
    shutil.rmtree(work, ignore_errors=True)
    if not args.no_sim:
        # the model's figures for the same shape (a leader and 2 followers), to set beside
        # the real ones: same column names, same meanings where they overlap
        res = CliRunner().invoke(cli, ["compare", "--nodes", "3", "--ops", str(args.ops)])
        print(f"\nsimulator (replicheck compare --nodes 3 --ops {args.ops}):\n{res.output.rstrip()}")
    sys.exit(0)


if __name__ == "__main__":
    main()
