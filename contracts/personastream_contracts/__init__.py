"""Contracts of personastream: what every stage agrees on, defined once.

The bottom layer: it imports no other personastream package, and importing this package loads
none of its modules (import the one you need).

- :mod:`~personastream_contracts.settings`: every setting and the one resolver.
- :mod:`~personastream_contracts.identity`: who an event belongs to (``user_key``).
- :mod:`~personastream_contracts.event_schemas`: the event schema files (``schemas/``) and
  their loader; :mod:`~personastream_contracts.schemaver` their compatibility rule;
  :mod:`~personastream_contracts.formats` the date-time and uuid formats they use.
- :mod:`~personastream_contracts.deadletters`: the one builder of dead letters.
- :mod:`~personastream_contracts.deadletter_replay`: which dead letters a replay sends, and its
  ledger; :mod:`~personastream_contracts.corrections` what it may change in them first.
- :mod:`~personastream_contracts.topics`: the pipeline's Kafka topics and their config.
- :mod:`~personastream_contracts.tables`: the Cassandra tables (columns, keys, layout versions,
  DDL, migrations, which job writes which columns); :mod:`~personastream_contracts.cassandra`
  the one session factory and the schema's creation and migration.
"""
