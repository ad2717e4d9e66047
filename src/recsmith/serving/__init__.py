"""Serving: model bundles and the FastAPI service over them.

* :mod:`~recsmith.serving.bundle` -- the bundle directory written by ``recsmith export``;
* :mod:`~recsmith.serving.engine` -- recommendations of one loaded bundle, external ids at the edge;
* :mod:`~recsmith.serving.service` -- state across requests: engine swap on reload, feedback, cache;
* :mod:`~recsmith.serving.app` -- ``create_app(settings)`` and the routes in ``routes/``.

See docs/deployment.md for running the service and docs/lifecycle.md for the registry, A/B tests
and monitoring. Nothing heavy is imported here.
"""
