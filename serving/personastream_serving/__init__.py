"""Serving: the personalization API and the storefront it serves (``personastream serve``).

Depends only on :mod:`personastream_contracts` and :mod:`personastream_models`: importing it
loads no PyFlink, NiFi or validation code.

- :mod:`~personastream_serving.app`: the FastAPI app (``create_app(settings, store)``);
- :mod:`~personastream_serving.store`: what it reads (:class:`~.store.Store`) and
  :class:`~.store.CassandraStore`;
- :mod:`~personastream_serving.metrics`: its Prometheus metrics (``GET /metrics``);
- :mod:`~personastream_serving.catalogue`: the storefront's sample catalogue;
- ``static/``: the storefront pages.
"""
