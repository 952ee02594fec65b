"""``personastream serve``: the personalization API and the storefront demo."""
from __future__ import annotations

import click


@click.command("serve")
@click.option("--port", type=int, default=None, help="Default: the api_port setting.")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Server processes (uvicorn workers).")
@click.option("--background", is_flag=True,
              help="Run as a background server (under the stack's supervisord); print its URL.")
@click.option("--stop", is_flag=True, help="Stop the background server.")
@click.pass_obj
def serve(settings, port: int | None, workers: int, background: bool, stop: bool) -> None:
    """Serve the API (OpenAPI at /docs, Prometheus metrics at /metrics) and the storefront (/)
    until interrupted.

    Example: personastream serve --background
    """
    import dataclasses

    from personastream_stack import api_daemon as daemon

    settings = dataclasses.replace(settings, api_port=port or settings.api_port)
    if stop:
        click.echo("stopped the API" if daemon.stop(settings) else "the API was not running")
        return
    if background:
        click.echo(f"storefront {daemon.start(settings)}/  API docs {daemon.url(settings)}/docs")
        return
    import os

    from personastream_stack.priority import set_own_niceness

    # before uvicorn starts its threads and workers; 0: the niceness it was started with
    refused = settings.api_nice and set_own_niceness(settings.api_nice)
    if refused:
        click.echo(f"warning: api_nice {settings.api_nice} not applied, {refused}", err=True)
    # every worker's metrics in files there, one worker or several (prometheus-client's
    # multiprocess mode): set before prometheus-client is first imported; workers inherit it
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(daemon.fresh_metrics_dir(settings))
    import uvicorn

    from personastream_serving.app import create_app

    click.echo(f"storefront {daemon.url(settings)}/  API docs {daemon.url(settings)}/docs",
               err=True)
    if workers == 1:
        uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port,
                    log_level="warning")
    else:
        uvicorn.run("personastream_serving.asgi:app", host=settings.api_host,
                    port=settings.api_port, workers=workers, log_level="warning")
