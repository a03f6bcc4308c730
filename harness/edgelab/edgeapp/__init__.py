"""edgeapp: the one small program that plays every service of a Byte Edge store.

Standard library only: it runs in an image with nothing but Debian's python3. Run it as
``SERVICE_NAME=pos-backend python3 -m edgeapp`` (pos-frontend, pos-backend,
payment-processor, order-service, hyperdx, clickhouse, otel-collector). It serves HTTP on
``$PORT`` (8080; 0 picks a free port and logs it): ``/healthz`` for liveness, ``/readyz``
for readiness, and the service's business endpoints.

Settings come from ``$UPPER_CASE`` env vars or files in ``$CONFIG_DIR``
(``/etc/byteedge/config``, a mounted ConfigMap, re-read every 5 s); secrets from env or
``$SECRETS_DIR`` (``/etc/byteedge/secrets``, read once at start). Every setting is an
ordinary production knob; some values make a service misbehave the way real
misconfigurations do (exit at start, grow memory, burn CPU, answer slowly, go unready).
Instructors: the settings and what each value does are in docs/edge-app.md. Nothing in
the cluster names those behaviours.
"""

from .app import SERVICES, main

__all__ = ["SERVICES", "main"]
