"""A toy topology, complete in this one module: one node holds the register, no replication.

Importing it registers ``single-node`` with the model; nothing else in the project names
it. tests/test_topology_registry.py runs it through simulate, check and explore, which is
the claim that adding a topology takes one module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from replicheck.model.clients import Protocol, apply_op
from replicheck.model.options import ConfigError, Option, OptionValues, num
from replicheck.model.sim import Node, ms_to_ns
from replicheck.model.topology import Topology, register


@dataclass(frozen=True)
class SingleNodeConfig:
    service_ms: float = 0.0

    @classmethod
    def from_options(cls, opts: OptionValues) -> SingleNodeConfig:
        if "nodes" in opts.given and str(opts["nodes"]) != "1":
            raise ConfigError(f"--nodes {opts['nodes']!r}: single-node has exactly one node")
        return cls(num("service-ms", opts["service-ms"]))

    def describe(self) -> str:
        return f"single-node --service-ms {self.service_ms:g}"


class Register(Node):
    def __init__(self, cfg: SingleNodeConfig) -> None:
        super().__init__("n1")
        self.cfg = cfg
        self.store: dict = {}

    def on_message(self, src: str, p: Any) -> None:
        _, op_no, f, key, value, _meta = p
        # Applied on arrival, answered after the service time: the reply may be lost to a
        # crash in between, which is what makes an acknowledged-or-not write "info".
        took, result = apply_op(self.store, f, key, value)
        reply = ("resp", op_no, "ok" if took else "fail", result, {})
        self.after(ms_to_ns(self.cfg.service_ms), self.send, src, reply)

    def describe(self) -> dict:
        state = {("" if k is None else k): v for k, v in sorted(self.store.items(), key=str)}
        return {"up": self.up, "state": state}


class SingleNode(Protocol):
    def __init__(self, sim: Any, cfg: SingleNodeConfig) -> None:
        self.cfg = cfg
        self.replicas = [sim.add(Register(cfg))]

    @property
    def node_ids(self) -> list[str]:
        return ["n1"]

    def current_leader(self) -> str:
        return "n1"

    def route(self, client: Any, f: str) -> str:
        return "n1"

    def measurements(self, log: Any) -> dict:
        return {"acked_writes": len(log.acked_uids)}


TOPOLOGY = register(
    Topology(
        name="single-node",
        help="one node holds the register; nothing is replicated",
        options=(Option("--service-ms", "time the node takes to answer", 0),),
        build_config=SingleNodeConfig.from_options,
        build=SingleNode,
        replica_ids=lambda cfg: ["n1"],
    )
)
