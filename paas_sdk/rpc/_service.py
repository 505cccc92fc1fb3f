"""How a protobuf service is named in the Dubbo mesh, read from its descriptor as Dubbo's stub
generator (`dubbo-compiler`'s `Dubbo3TripleGenerator`) names it.

The gRPC path is ``/<proto package>.<Service>/<Method>``; the Dubbo interface (the registry
directory and the ``interface`` parameter) is the generated Java interface,
``<java_package or proto package>.<Service>``; Java lists its methods as the interface's Java
methods, each with its ``...Async`` twin.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import ServiceDescriptor

from paas_sdk.errors import RpcError

__all__ = ["TripleService"]


@dataclass(frozen=True)
class TripleService:
    """One protobuf service: its gRPC name, its Dubbo interface and its methods."""

    name: str  # the gRPC service name, ``paas.example.order.v1.OrderService``
    interface: str  # the Dubbo interface, ``com.example.order.v1.OrderService``
    methods: tuple[str, ...]  # proto method names, ``GetOrder``

    @classmethod
    def of(cls, service: ServiceDescriptor | str) -> TripleService:
        """From a descriptor, or a gRPC service name whose `_pb2` module has been imported."""
        if isinstance(service, str):
            name = service
            try:
                service = descriptor_pool.Default().FindServiceByName(name)
            except KeyError:
                raise RpcError(
                    "no protobuf service of this name is loaded: import its generated _pb2"
                    " module first",
                    where=name,
                ) from None
        java_package = service.file.GetOptions().java_package or service.file.package
        interface = f"{java_package}.{service.name}" if java_package else service.name
        return cls(service.full_name, interface, tuple(m.name for m in service.methods))

    @property
    def java_methods(self) -> tuple[str, ...]:
        """The method names a Java provider of this IDL service registers (``methods=``)."""
        names = [m[:1].lower() + m[1:] for m in self.methods]
        return tuple(sorted({*names, *(n + "Async" for n in names)}))

    def path(self, method: str) -> str:
        """The HTTP/2 `:path` of a call, ``/<service>/<Method>``."""
        return f"/{self.name}/{method}"

    def method_of(self, name: str) -> str:
        """The proto method for a proto or Java method name (``GetOrder`` or ``getOrder``)."""
        for method in self.methods:
            if name in (method, method[:1].lower() + method[1:]):
                return method
        raise RpcError(
            f"{self.interface} has no method {name!r}; it has {', '.join(self.methods)}",
            where=self.name,
        )
