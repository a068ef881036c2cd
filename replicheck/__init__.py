"""replicheck: models database replication and checks what it promises.

The work lives in three subpackages that import one way, ``cli -> model -> checker``:
``replicheck.checker`` (histories in, verdicts out), ``replicheck.model`` (replication
protocols on a deterministic simulator) and ``replicheck.cli`` (the command line).
"""

__version__ = "0.1.0"
