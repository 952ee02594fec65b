"""Record every finished checkpoint of the running jobs on the Flink cluster at
``flink_rest_url``, as JSON lines (job, id, status, type, end-to-end ms, in-flight bytes
saved, trigger time), until interrupted; ``summary.py`` reads them.

    python record.py OUT.jsonl
"""
import json
import sys
import time

import requests

from personastream_contracts.settings import resolve
from personastream_stack.flink import rest_get


def main() -> None:
    settings = resolve()
    out, seen = open(sys.argv[1], "a"), set()
    while True:
        try:
            for job in rest_get(settings, "/jobs/overview")["jobs"]:
                if job["state"] != "RUNNING":
                    continue
                for h in rest_get(settings, f"/jobs/{job['jid']}/checkpoints")["history"]:
                    key = (job["jid"], h["id"])
                    if h["status"] == "IN_PROGRESS" or key in seen:
                        continue
                    seen.add(key)
                    out.write(json.dumps({
                        "job": job["name"], "jid": job["jid"], "id": h["id"],
                        "status": h["status"], "type": h.get("checkpoint_type"),
                        "e2e_ms": h.get("end_to_end_duration"),
                        "persisted": h.get("persisted_data"),
                        "trigger_ms": h.get("trigger_timestamp")}) + "\n")
                    out.flush()
        except requests.RequestException as error:
            print("REST:", error, flush=True)
        time.sleep(5)


if __name__ == "__main__":
    main()
