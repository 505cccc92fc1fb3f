"""paas_sdk: the observability SDK for Python services on the platform.

    import paas_sdk
    platform = paas_sdk.init()       # config, ECS logs, metrics endpoints, registry, SIGTERM

Each subsystem also stands alone (`paas_sdk.config`, `paas_sdk.registry`, `paas_sdk.logs`,
`paas_sdk.metrics`); nothing here starts a thread or opens a connection at import time.
"""

from paas_sdk.context import ServiceContext
from paas_sdk.errors import PaasError
from paas_sdk.platform import Platform, PlatformSettings, init

__all__ = ["PaasError", "Platform", "PlatformSettings", "ServiceContext", "__version__", "init"]

__version__ = "0.1.0"
