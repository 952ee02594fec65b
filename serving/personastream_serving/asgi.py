"""ASGI entry point for servers that import an app object (``uvicorn
personastream_serving.asgi:app``, several workers): settings from the environment and profile."""
from personastream_contracts.settings import resolve
from personastream_serving.app import create_app

app = create_app(resolve())
