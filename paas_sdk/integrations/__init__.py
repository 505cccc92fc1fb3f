"""The SDK inside the servers services run in: one documented way per server.

- gunicorn, sync or uvicorn workers:
  ``gunicorn -c python:paas_sdk.integrations.gunicorn -w 4 app:app``
- uvicorn, one process or ``--workers N``:
  ``python -m paas_sdk.integrations.uvicorn app:app --workers 4``
- FastAPI / Starlette, under any ASGI server:
  ``FastAPI(lifespan=paas_sdk.integrations.asgi.lifespan)``
- Flask, Django, under any WSGI server: ``paas_sdk.integrations.wsgi.instrument(app)``

Each keeps the server's own graceful stop: on SIGTERM the SDK deregisters, drains, then hands the
signal to the server's handler (`paas_sdk.lifecycle`). With several workers the pod's `/metrics`,
`/healthz` and `/readyz` are bound once, by the process that supervises them (`PodEndpoints`).
"""

from paas_sdk.integrations._pod import PodEndpoints

__all__ = ["PodEndpoints"]
