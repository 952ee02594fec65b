"""Record every finished checkpoint of the local cluster's running jobs, as JSON lines (job,
id, status, type, end-to-end ms, in-flight bytes saved, trigger time), until interrupted;
``summary.py`` reads them.

    python record.py OUT.jsonl
"""
import json
import sys
import time
import urllib.request

REST = "http://127.0.0.1:8081"


def get(path: str):
    return json.load(urllib.request.urlopen(REST + path, timeout=5))


def main() -> None:
    out, seen = open(sys.argv[1], "a"), set()
    while True:
        try:
            for job in get("/jobs/overview")["jobs"]:
                if job["state"] != "RUNNING":
                    continue
                for h in get(f"/jobs/{job['jid']}/checkpoints")["history"]:
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
        except OSError as error:
            print("REST:", error, flush=True)
        time.sleep(5)


if __name__ == "__main__":
    main()
