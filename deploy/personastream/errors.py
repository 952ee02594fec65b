"""Exceptions raised by personastream; the CLI turns them into exit codes and messages."""


class PersonastreamError(Exception):
    """Base class: the message says what failed and how to fix it."""


class SettingsError(PersonastreamError):
    """A setting is missing, unknown or malformed."""


class FetchError(PersonastreamError):
    """A server could not be obtained from Maven Central."""


class StackError(PersonastreamError):
    """A local server failed to start, stop or answer."""


class StackTimeout(StackError):
    """A wait ran out of time; the message names what was awaited."""
