"""Cassandra's CPU per upsert of a live_profiles row as live_activity writes it (``INSERT ...
JSON``, timestamps as epoch ms): the table as it is (non-frozen collections) against frozen
collections, each with the skip-list memtable (Cassandra's default) and the trie memtable
(Cassandra 5), alternating rounds; the server's CPU from /proc/PID/stat. Rows shaped like the
job's: 20 recent items of 5,000 (Zipf), 8 category and 30 brand affinities, 1,333 customers.
Tables in the scratch keyspace ``bench_writes`` (dropped at the end). The trie tables need a
``trie`` memtable configuration, which the project's cassandra.yaml does not keep (no gain
here); for this run it had::

    memtable:
      configurations:
        skiplist: {class_name: SkipListMemtable}
        trie: {class_name: TrieMemtable}
        default: {inherits: skiplist}

    python write_cost.py [WRITES] [ROUNDS]
"""
import random
import subprocess
import sys
import time

import orjson
from cassandra.cluster import Cluster
from cassandra.concurrent import execute_concurrent_with_args

from personastream_bench.load import cpu_seconds

COLUMNS = {"nonfrozen": ("list<text>", "map<text, double>"),
           "frozen": ("frozen<list<text>>", "frozen<map<text, double>>")}
MEMTABLES = ("skiplist", "trie")


def profiles(n: int, rng: random.Random) -> list[tuple[str]]:
    items = [f"item-{i:05d}" for i in range(5000)]
    weights = [1 / (i + 1) for i in range(5000)]
    categories = [f"category-{i}" for i in range(8)]
    brands = [f"brand-{i:02d}" for i in range(30)]
    now = int(time.time() * 1000)
    return [(orjson.dumps({
        "user_key": f"user:u-{rng.randrange(1333)}",
        "recent_items": rng.choices(items, weights, k=20),
        "category_affinity": {c: rng.random() * 5 for c in categories},
        "brand_affinity": {b: rng.random() * 5 for b in brands},
        "purchased": rng.choices(items, k=rng.randrange(3)),
        "updated_at": now + i, "n_events": i, "written_at": now + i}).decode(),)
        for i in range(n)]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    pid = int(subprocess.run(["pgrep", "-f", "CassandraDaemon"], capture_output=True,
                             text=True, check=True).stdout.split()[0])
    s = Cluster(["127.0.0.1"], port=9042).connect()
    s.execute("CREATE KEYSPACE IF NOT EXISTS bench_writes WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    tables = [f"{c}_{m}" for c in COLUMNS for m in MEMTABLES]
    for c, (list_type, map_type) in COLUMNS.items():
        for m in MEMTABLES:
            s.execute(f"DROP TABLE IF EXISTS bench_writes.{c}_{m}")
            s.execute(f"CREATE TABLE bench_writes.{c}_{m} (user_key text PRIMARY KEY, "
                      f"recent_items {list_type}, category_affinity {map_type}, "
                      f"brand_affinity {map_type}, purchased {list_type}, updated_at timestamp, "
                      f"n_events bigint, written_at timestamp) WITH memtable = '{m}'")
    rows = profiles(n, random.Random(1))
    print(f"{n:,} upserts per table and round (INSERT ... JSON, concurrency 64); Cassandra pid "
          f"{pid}; server CPU per upsert in µs", flush=True)
    for r in range(rounds):
        for table in (tables if r % 2 == 0 else tables[::-1]):
            insert = s.prepare(f"INSERT INTO bench_writes.{table} JSON ? DEFAULT UNSET")
            c0, t0 = cpu_seconds([pid]), time.monotonic()
            execute_concurrent_with_args(s, insert, rows, concurrency=64)
            c1, t1 = cpu_seconds([pid]), time.monotonic()
            time.sleep(3)
            print(f"round {r} {table:18}: {n / (t1 - t0):6.0f} upserts/s, server "
                  f"{1e6 * (c1 - c0) / n:6.1f} µs CPU per upsert "
                  f"(+{cpu_seconds([pid]) - c1:.2f} s in the 3 s after)", flush=True)
    s.execute("DROP KEYSPACE bench_writes")


if __name__ == "__main__":
    main()
