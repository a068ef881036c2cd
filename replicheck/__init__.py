"""replicheck: models database replication and checks what it promises.

The work lives in five subpackages that import one way,
``cli -> {model, record, quorum} -> checker`` (and ``model`` may also use ``quorum``):

- ``replicheck.checker``: histories in, verdicts out (linearizability, the weaker
  consistency models, minimal counterexamples, reports); imports no other subpackage;
- ``replicheck.quorum``: quorum systems, their claims proved with Z3, staleness of
  partial quorums;
- ``replicheck.model``: replication protocols on a deterministic simulator, and the
  search for schedules that break them;
- ``replicheck.record``: recording histories from real systems (PostgreSQL);
- ``replicheck.cli``: the command line;
- ``replicheck.testing`` (and its pytest plugin): assertions for tests of your own service.
"""

__version__ = "0.1.0"
