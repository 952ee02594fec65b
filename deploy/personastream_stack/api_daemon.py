"""The API as a background server of the local stack (``personastream serve --background``),
run by supervisord like the other servers (restarted if it crashes), its log in
``<state_dir>/api/<port>``; and the directory of its workers' metrics files."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from personastream_contracts.settings import as_environ
from personastream_stack import supervision
from personastream_stack.errors import StackError
from personastream_stack.process import port_open, wait_for
from personastream_stack.supervision import Program


def _run_dir(settings) -> Path:
    return settings.state_dir / "api" / str(settings.api_port)


def _program(settings) -> Program:
    return Program(settings, f"api-{settings.api_port}", _run_dir(settings))


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


def fresh_metrics_dir(settings) -> Path:
    """``<state_dir>/api/<api_port>/prometheus``, made empty: where the workers of an API
    about to start on ``api_port`` write their metrics (prometheus-client's multiprocess mode).
    Refused while something answers on the port (the files may be a running API's)."""
    if port_open(settings.api_host, settings.api_port):
        raise StackError(f"something already answers on {url(settings)}; stop it first "
                         f"(personastream serve --stop) or choose another --port")
    path = _run_dir(settings) / "prometheus"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def stop(settings) -> bool:
    """Stop the background API (and supervisord, if it runs nothing else); False if it was
    not running."""
    stopped = _program(settings).terminate()
    supervision.shutdown(settings)
    return stopped
