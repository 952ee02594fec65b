"""Exceptions of the local stack and of what runs on it."""
from personastream_contracts.errors import PersonastreamError


class FetchError(PersonastreamError):
    """A server could not be obtained from Maven Central."""


class StackError(PersonastreamError):
    """A local server failed to start, stop or answer."""


class StackTimeout(StackError):
    """A wait ran out of time; the message names what was awaited."""
