"""The base of every personastream exception; the CLI turns them into exit codes and messages."""


class PersonastreamError(Exception):
    """Base class: the message says what failed and how to fix it."""


class SettingsError(PersonastreamError):
    """A setting is missing, unknown or malformed."""
