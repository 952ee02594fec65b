"""Per step of a `bench pipeline` summary: `python steps.py summary.json 4/32,2/16` (the
variants' names, cycled over the steps)."""
import json
import sys


def main(path, names):
    for i, step in enumerate(json.load(open(path))["steps"]):
        cores, lags = step["cores"], step.get("lag_growth") or {}
        growth = max((x for x in lags.values() if x is not None), default=0)
        print(f"step {i + 1} {names[i % len(names)]:10s} rate {step['rate']} "
              f"accepted {step['accepted_events']}/{step['events']} errors {step['errors']} "
              f"req_p99 {step['request_p99_ms']:.0f} ms "
              f"probes {step['probes_seen']}/{step['probes']} "
              f"row p50/p99 {step['row_p50_s']}/{step['row_p99_s']} "
              f"nifi {cores['nifi']:.2f} tm {cores['flink taskmanager']:.2f} "
              f"jm {cores['flink jobmanager']:.2f} kafka {cores['kafka']:.2f} "
              f"cass {cores['cassandra']:.2f} max lag growth {growth:.0f} held {step['held']}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(","))
