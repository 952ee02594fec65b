"""The API as a background server of the local stack (``personastream serve --background``),
run by supervisord like the other servers (restarted if it crashes), its log in
``<state_dir>/api/<port>``."""
from __future__ import annotations

import sys

from personastream_contracts.settings import as_environ
from personastream_stack import supervision
from personastream_stack.process import port_open, wait_for
from personastream_stack.supervision import Program


def _program(settings) -> Program:
    return Program(settings, f"api-{settings.api_port}",
                   settings.state_dir / "api" / str(settings.api_port))


def url(settings) -> str:
    return f"http://{settings.api_host}:{settings.api_port}"


def pid(settings) -> int | None:
    """The background API's pid, None if it is not running."""
    return _program(settings).running_pid()


def start(settings, workers: int = 1, timeout_s: float = 60) -> str:
    """Start the API on ``api_port`` unless it runs there; wait until it answers; return its
    URL."""
    program = _program(settings)
    if program.running_pid() is None:
        program.start([sys.executable, "-m", "personastream", "serve", "--port",
                       str(settings.api_port), "--workers", str(workers)],
                      env=as_environ(settings))
        wait_for(lambda: port_open(settings.api_host, settings.api_port),
                 what=f"the API on {url(settings)}", timeout_s=timeout_s, daemon=program,
                 interval_s=0.2)
    return url(settings)


def stop(settings) -> bool:
    """Stop the background API (and supervisord, if it runs nothing else); False if it was
    not running."""
    stopped = _program(settings).terminate()
    supervision.shutdown(settings)
    return stopped
