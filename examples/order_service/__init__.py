"""An example order service on the SDK: typed Apollo config, Dubbo registration, ECS logs to
Kafka, Prometheus metrics and graceful shutdown, as an ASGI app (`asgi_app`) and a WSGI one
(`wsgi_app`)."""
