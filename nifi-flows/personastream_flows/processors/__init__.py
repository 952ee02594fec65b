"""NiFi 2 Python processors of personastream: thin adapters over :mod:`personastream_flows.ingest`.

NiFi does not import them from here: :mod:`personastream_flows.bundle` copies them, with the
packages they import, into the folder NiFi loads Python extensions from.
"""
