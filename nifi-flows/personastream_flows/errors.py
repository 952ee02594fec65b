"""Errors of flow deployment; the message says what failed and how to fix it."""
from personastream_contracts.errors import PersonastreamError


class FlowError(PersonastreamError):
    """A flow could not be deployed, found or read."""
