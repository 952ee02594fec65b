"""ASGI entry point for servers that import an app object (``uvicorn
personastream.api.asgi:app``, several workers): settings from the environment and profile."""
from personastream.api.app import create_app
from personastream.settings import resolve

app = create_app(resolve())
