"""The webhook Alertmanager notifies on loopback: each alert of each notification becomes a
JSON line of ``<state_dir>/prometheus/alerts.log`` (``python -m personastream_stack.alert_log``).

A log rather than mail or chat, which this machine cannot reach; at scale Alertmanager's
configuration routes to those instead (:func:`personastream_stack.alerting.alertmanager_config`).

>>> note = {"status": "firing", "alerts": [{"status": "firing", "startsAt": "t0",
...     "endsAt": "0001-01-01T00:00:00Z", "labels": {"alertname": "ServerDown", "job": "kafka"},
...     "annotations": {"summary": "kafka does not answer"}}]}
>>> [line["alertname"] + " " + line["status"] for line in lines(note)]
['ServerDown firing']
"""
from __future__ import annotations

import json
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from personastream_contracts.settings import resolve

log = logging.getLogger(__name__)


def log_path(settings) -> Path:
    return settings.state_dir / "prometheus" / "alerts.log"


def lines(notification: dict) -> list[dict]:
    """One line per alert of an Alertmanager webhook notification (its version 4 payload)."""
    return [{"alertname": a["labels"].get("alertname", "?"), "status": a["status"],
             "starts_at": a.get("startsAt"), "ends_at": a.get("endsAt"),
             "labels": a["labels"], "summary": a.get("annotations", {}).get("summary", "")}
            for a in notification.get("alerts", [])]


def read(settings) -> list[dict]:
    """Every line logged so far (oldest first)."""
    path = log_path(settings)
    return [json.loads(ln) for ln in path.read_text().splitlines()] if path.exists() else []


def serve(settings) -> None:
    path = log_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with path.open("a") as out:
                    for line in lines(body):
                        out.write(json.dumps(line, sort_keys=True) + "\n")
            except (ValueError, KeyError, TypeError, AttributeError) as err:
                self.send_error(400, f"not an Alertmanager webhook notification: {err}")
                return
            self.send_response(204)
            self.end_headers()

        def log_message(self, fmt, *args):
            log.info(fmt, *args)

    server = ThreadingHTTPServer(("127.0.0.1", settings.alert_receiver_port), Handler)
    log.info("writing Alertmanager's notifications to %s", path)
    server.serve_forever()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    serve(resolve())
