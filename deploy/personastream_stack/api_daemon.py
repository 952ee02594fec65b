"""The API as a background server of the local stack (``personastream serve --background``),
tracked by a pid file in ``<state_dir>/api/<port>`` like the other servers."""
from __future__ import annotations

import sys

from personastream_stack.process import Daemon, port_open, wait_for


def _daemon(settings) -> Daemon:
    return Daemon("api", settings.state_dir / "api" / str(settings.api_port),
                  marker=f"personastream serve --port {settings.api_port}")


def url(settings) -> str:
    return f"http://{settings.api_host}:{settings.api_port}"


def pid(settings) -> int | None:
    """The background API's pid, None if it is not running."""
    return _daemon(settings).running_pid()


def start(settings, workers: int = 1, timeout_s: float = 60) -> str:
    """Start the API on ``api_port`` unless it runs there; wait until it answers; return its
    URL."""
    daemon = _daemon(settings)
    if daemon.running_pid() is None:
        daemon.spawn([sys.executable, "-m", "personastream", "serve", "--port",
                      str(settings.api_port), "--workers", str(workers)])
        wait_for(lambda: port_open(settings.api_host, settings.api_port),
                 what=f"the API on {url(settings)}", timeout_s=timeout_s, daemon=daemon,
                 interval_s=0.2)
    return url(settings)


def stop(settings) -> bool:
    """Stop the background API; False if it was not running."""
    return _daemon(settings).terminate(timeout_s=10)
