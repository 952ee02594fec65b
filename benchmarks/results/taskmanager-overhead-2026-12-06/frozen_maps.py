"""Cassandra CPU per upsert of an item_neighbours-shaped row (a 50-entry map replaced whole):
non-frozen map (the table today) against a frozen one, alternating rounds, the server's CPU from
/proc/PID/stat; then per read of 5,000 rows. Tables in the scratch keyspace ``bench_frozen``.

    python frozen_maps.py CASSANDRA_PID [WRITES] [ROUNDS]
"""
import random
import sys
import time

from cassandra.cluster import Cluster
from cassandra.concurrent import execute_concurrent_with_args

from personastream_bench.load import cpu_seconds


def main() -> None:
    pid = int(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    s = Cluster(["127.0.0.1"], port=9042).connect()
    s.execute("CREATE KEYSPACE IF NOT EXISTS bench_frozen WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    kinds = {"nonfrozen": "map<text, double>", "frozen": "frozen<map<text, double>>"}
    for k, t in kinds.items():
        s.execute(f"DROP TABLE IF EXISTS bench_frozen.{k}")
        s.execute(f"CREATE TABLE bench_frozen.{k} (item_id text PRIMARY KEY, neighbours {t}, "
                  "views double, updated_at timestamp)")
    rng = random.Random(1)
    items = [f"item-{i}" for i in range(5000)]
    weights = [1 / (i + 1) for i in range(5000)]
    rows = []
    for _ in range(n):
        item = rng.choices(items, weights)[0]
        nb = {rng.choice(items): rng.random() for _ in range(50)}
        rows.append((item, nb, rng.random(), int(time.time() * 1000)))
    print(f"{n} upserts per round, 50-entry maps, 5,000 Zipf items; Cassandra pid {pid}")
    for r in range(rounds):
        for k in kinds:
            ins = s.prepare(f"INSERT INTO bench_frozen.{k} (item_id, neighbours, views, "
                            "updated_at) VALUES (?, ?, ?, ?)")
            c0, t0 = cpu_seconds([pid]), time.time()
            execute_concurrent_with_args(s, ins, rows, concurrency=64)
            c1, t1 = cpu_seconds([pid]), time.time()
            time.sleep(5)
            c2 = cpu_seconds([pid])
            sel = s.prepare(f"SELECT * FROM bench_frozen.{k} WHERE item_id = ?")
            keys = [(rng.choice(items[:500]),) for _ in range(5000)]
            c3 = cpu_seconds([pid])
            execute_concurrent_with_args(s, sel, keys, concurrency=16)
            c4 = cpu_seconds([pid])
            print(f"round {r} {k:9}: write {n / (t1 - t0):7.0f}/s, server "
                  f"{1e6 * (c1 - c0) / n:6.1f} us CPU per upsert (+{c2 - c1:.2f} s in the 5 s "
                  "after); read 5000 keys: "
                  f"server {1e6 * (c4 - c3) / 5000:6.1f} us CPU per read", flush=True)
    s.execute("DROP KEYSPACE bench_frozen")


if __name__ == "__main__":
    main()
