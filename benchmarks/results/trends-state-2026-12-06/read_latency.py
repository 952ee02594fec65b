"""Latency of 3,000 sequential reads of one ``live_profiles`` partition through the Python
driver (p50, p99, p99.9): run it idle, then while ``cpu-per-write.sh`` loads Cassandra.

Run from the repository root: ``.venv/bin/python
benchmarks/results/trends-state-2026-12-06/read_latency.py``
"""
from __future__ import annotations

import time


def main(n: int = 3000) -> None:
    from personastream_contracts.cassandra import session
    from personastream_contracts.settings import resolve

    settings = resolve()
    with session(settings) as cql:
        query = cql.prepare(f"SELECT * FROM {settings.cassandra_keyspace}.live_profiles "
                            "WHERE user_key = ?")
        for _ in range(200):  # warm up
            cql.execute(query, ["u1"])
        times = []
        for _ in range(n):
            start = time.perf_counter()
            cql.execute(query, ["u1"])
            times.append(time.perf_counter() - start)
    times.sort()
    print(f"reads {n:,}: " + ", ".join(f"p{q} {times[int(n * q / 100)] * 1e3:.2f} ms"
                                        for q in (50, 99, 99.9)))


if __name__ == "__main__":
    main()
