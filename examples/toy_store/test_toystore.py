"""Each client must read its own writes. The replicheck pytest plugin supplies the
``recorder`` fixture: the history goes to the test's tmp dir, and a failure shows
replicheck's report, the minimal counterexample and the HTML timeline's path."""

from toystore import PinnedStore, StaleReplicaStore


def workload(store, recorder):
    """Two clients write and read back one key each, in turn."""
    clients = {name: recorder.session(name) for name in ("alice", "bob")}
    for i in range(1, 4):
        for name, s in clients.items():
            key = f"{name}-key"
            with s.op("write", i, key=key):
                store.write(name, key, i)
            with s.op("read", key=key, read_only=True) as op:
                op.ok(store.read(name, key))


def test_stale_replica_reads_your_writes(recorder):
    workload(StaleReplicaStore(), recorder)
    recorder.assert_consistent(model="read-your-writes", spec="register")


def test_pin_after_write_reads_your_writes(recorder):
    workload(PinnedStore(), recorder)
    recorder.assert_consistent(model="read-your-writes", spec="register")
