"""The order service's typed configuration, bound to its Apollo namespace `application`.

Keys such as ``orders.max_items`` fill the nested model; an update that does not validate is
rejected and the last good settings stay in force.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class OrderLimits(BaseModel):
    max_items: int = Field(default=10, ge=1, le=1000)


class OrderSettings(BaseModel):
    greeting: str = "hello"
    orders: OrderLimits = OrderLimits()


# the Dubbo interface of proto/order.proto's OrderService (its java_package and service name)
DUBBO_INTERFACE = "com.example.order.v1.OrderService"
