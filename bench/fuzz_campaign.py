"""A fuzz campaign: hostile histories through the API and the CLI for a given time.

    python bench/fuzz_campaign.py --seconds 600 --seed 7 --out fuzz-findings/

The inputs and the judge are the fuzz test's (tests/fuzzing.py): small histories in JSON
Lines, Jepsen EDN and Jepsen log lines, damaged in every way it knows. Every input comes
from one random.Random seeded with the printed seed, so a finding replays: the same seed
gives the same inputs in the same order. Prints how many inputs it tried per format and
what the answers were (exit codes); each finding's input goes to a file in --out, with
what was done to it and what went wrong, and is summarized on the terminal.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzzing import FORMATS, SUFFIX, describe, judge_api, judge_cli, make_input


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="how long to run (default 60)")
    ap.add_argument("--seed", type=int, default=None, help="default: a random one, printed")
    ap.add_argument("--out", default="fuzz-findings", help="folder for findings (default fuzz-findings)")
    ap.add_argument("--timeout", type=float, default=5.0, help="--timeout per check (default 5)")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    print(f"seed {seed}; {args.seconds:g} s; findings to {args.out}/", flush=True)
    rng = random.Random(seed)
    tried: collections.Counter = collections.Counter()
    codes: dict[str, collections.Counter] = {f: collections.Counter() for f in FORMATS}
    findings: list[tuple[int, str]] = []
    seen_kinds: set[str] = set()
    end = time.monotonic() + args.seconds
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        while time.monotonic() < end:
            n += 1
            inp = make_input(rng)
            tried[inp.fmt] += 1
            fmt = rng.choice([None, None, None, inp.fmt, rng.choice(["jsonl", "json", "edn", "jepsen-log"])])
            api_code, finding = judge_api(inp, args.timeout, fmt)
            cli_code = None
            if finding is None:
                cli_args = ["--spec", inp.spec, "--timeout", str(args.timeout)] + (
                    ["--format", fmt] if fmt else []
                )
                if rng.random() < 0.3:
                    cli_args.append("--json")
                if rng.random() < 0.1:
                    cli_args.append("--minimize")
                cli_code, finding = judge_cli(inp, Path(tmp) / ("h" + SUFFIX[inp.fmt]), cli_args)
                if finding is None and 3 not in (api_code, cli_code) and api_code != cli_code:
                    finding = f"API says exit {api_code}, the CLI exits {cli_code} ({' '.join(cli_args)})"
            codes[inp.fmt][cli_code if cli_code is not None else api_code] += 1
            if finding is not None:
                findings.append((n, finding))
                os.makedirs(args.out, exist_ok=True)
                stem = Path(args.out) / f"seed{seed}-{n}"
                Path(str(stem) + SUFFIX[inp.fmt]).write_bytes(inp.data)
                Path(str(stem) + ".txt").write_text(f"input {n} of seed {seed}: {describe(inp)}\n{finding}\n")
                kind = finding.strip().splitlines()[-1][:160]
                if kind not in seen_kinds:
                    seen_kinds.add(kind)
                    print(f"finding at input {n} ({describe(inp)}): {kind}  -> {stem}.*", flush=True)
    print(f"tried {n} inputs in {args.seconds:g} s (seed {seed}):")
    for fmt in FORMATS:
        answers = ", ".join(f"exit {c}: {k}" for c, k in sorted(codes[fmt].items(), key=lambda x: str(x[0])))
        print(f"  {fmt:11} {tried[fmt]:6}  ({answers})")
    print(f"findings: {len(findings)} ({len(seen_kinds)} distinct)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
