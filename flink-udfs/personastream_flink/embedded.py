"""Python functions in PyFlink's thread mode (an interpreter embedded in the TaskManager's JVM).

pemja gives each Python operator a thread state of its own. On a task thread that runs two
chained Python operators, the one opened second (Flink opens a chain from its tail) does not
have the thread state CPython's ``PyGILState`` API knows for that thread. An extension module
built with pybind11 calls ``PyGILState_Ensure`` when it is first initialised, so importing one
there waits for the GIL its own thread holds: the task hangs in ``open`` for ever (seen with
``score_trends``: river.anomaly imports scipy.stats, which imports scipy.spatial's pybind11
modules). A thread started by Python has a consistent thread state: :func:`call_in_own_thread`
runs an import (or anything that imports, such as loading a model spec) there, and later imports
of the same modules find them loaded.
"""
from __future__ import annotations

import threading
from typing import Callable, TypeVar

T = TypeVar("T")


def call_in_own_thread(fn: Callable[..., T], *args) -> T:
    """``fn(*args)`` run in a new Python thread, waited for; its exception is raised here.

    >>> import sys
    >>> call_in_own_thread(__import__, "colorsys").__name__, "colorsys" in sys.modules
    ('colorsys', True)
    >>> call_in_own_thread(int, "x")
    Traceback (most recent call last):
    ValueError: invalid literal for int() with base 10: 'x'
    """
    outcome: list = []

    def run() -> None:
        try:
            outcome.append((True, fn(*args)))
        except BaseException as error:  # re-raised in the caller's thread
            outcome.append((False, error))

    thread = threading.Thread(target=run, name=f"call {getattr(fn, '__name__', fn)}")
    thread.start()
    thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value
