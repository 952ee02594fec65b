"""Erased customers forgotten by the jobs that keep state about customers.

An erasure request (:mod:`personastream_contracts.erasures`, on ``topic_user_erasures``) reaches
a job as a second input of its keyed customer function, keyed the same way (``user_key``): the
function, a :class:`ForgetsErased`, clears every keyed state it names for that customer, so the
customer's next event starts anew (the rows themselves are deleted by whoever erased the
customer). ``live_activity``, ``build_profiles``, ``assign_segments`` and
``evaluate_promotions`` read it (the last with its events in one keyed stream, as it also
follows broadcast state: a row flagged ``erased`` clears its states); the item
neighbours of ``live_activity`` hold no customer and stay.

Wiring a job (``customers``: its input keyed by the customer)::

    keyed_with_erasures(env, io, customers).process(MyFunction(...), output_type=...)
"""
from __future__ import annotations

from pyflink.common import Types
from pyflink.datastream import (ConnectedStreams, KeyedCoProcessFunction, KeyedStream,
                                StreamExecutionEnvironment)

from personastream_contracts.erasures import erased_key


def keyed_with_erasures(env: StreamExecutionEnvironment, io,
                        customers: KeyedStream) -> ConnectedStreams:
    """``customers`` (keyed by ``user_key``) and ``io``'s erasure requests keyed the same way."""
    return ConnectedStreams(customers, io.erasures(env).key_by(erased_key,
                                                               key_type=Types.STRING()))


class ForgetsErased(KeyedCoProcessFunction):
    """A keyed customer function: ``process_element`` as a ``KeyedProcessFunction``'s for the
    first input; an erasure request, the second, clears the states :meth:`customer_states`
    returns (the subclass's keyed states, opened in ``open``)."""

    def customer_states(self) -> list:
        raise NotImplementedError

    def process_element(self, value, ctx):
        raise NotImplementedError

    def process_element1(self, value, ctx):
        yield from self.process_element(value, ctx)

    def process_element2(self, value, ctx):
        for state in self.customer_states():
            state.clear()
        return iter(())
