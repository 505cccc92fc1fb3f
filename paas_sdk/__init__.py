"""paas_sdk: the observability SDK for Python services on the platform.

Each subsystem stands alone (`paas_sdk.config`, `paas_sdk.registry`, `paas_sdk.logs`,
`paas_sdk.metrics`); nothing here starts a thread or opens a connection at import time.
"""

from paas_sdk.context import ServiceContext
from paas_sdk.errors import PaasError

__all__ = ["PaasError", "ServiceContext", "__version__"]

__version__ = "0.1.0"
