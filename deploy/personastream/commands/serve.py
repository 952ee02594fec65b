"""``personastream serve``: the personalization API and the storefront demo."""
from __future__ import annotations

import click


@click.command("serve")
@click.option("--port", type=int, default=None, help="Default: the api_port setting.")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Server processes (uvicorn workers).")
@click.pass_obj
def serve(settings, port: int | None, workers: int) -> None:
    """Serve the API (OpenAPI at /docs) and the storefront (/) until interrupted.

    Example: personastream serve --port 8000
    """
    import uvicorn

    from personastream.api.app import create_app

    port = port or settings.api_port
    click.echo(f"storefront http://{settings.api_host}:{port}/  API docs "
               f"http://{settings.api_host}:{port}/docs", err=True)
    if workers == 1:
        uvicorn.run(create_app(settings), host=settings.api_host, port=port, log_level="warning")
    else:
        uvicorn.run("personastream.api.asgi:app", host=settings.api_host, port=port,
                    workers=workers, log_level="warning")
