"""The delivery view: commit → Jenkins build → Harbor image → Spinnaker deploy, linked from the
three systems' own APIs, as the four DORA keys (deployment frequency, lead time for changes,
change failure rate, time to restore) per application and environment.

`links` reads each system's answers, `ledger` counts and keeps the rolling history, `view`
runs one poll.
"""

from paas_exporter.delivery.view import DeliveryUpstreams, DeliveryView

__all__ = ["DeliveryUpstreams", "DeliveryView"]
