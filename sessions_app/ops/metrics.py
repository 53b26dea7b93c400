"""`/metrics`: Prometheus metrics, for a scraper holding the token or calling from an allowed network.

The guard is its own, not the login: `Authorization: Bearer <WFSITE_METRICS_TOKEN>`, or a client
address (`REMOTE_ADDR`, which uvicorn sets from the proxy's `X-Forwarded-For` only for the
proxies it trusts) inside `WFSITE_METRICS_ALLOWED_NETWORKS`. Anything else gets a plain 403.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Iterator
from functools import cache

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from sessions_app.ops.collectors import RunCollector

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ThisProcess:
    """This process's own metrics (the default registry), when processes do not share theirs."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def metrics_registry() -> CollectorRegistry:
    """Return a registry of every process's in-process metrics and the database-derived ones."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_ENV):
        MultiProcessCollector(registry)
    else:
        registry.register(ThisProcess())
    registry.register(RunCollector())
    return registry


@cache
def _networks(raw: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in raw)


def address_allowed(address: str, networks: list[str]) -> bool:
    """Whether `address` is inside one of `networks` (CIDRs); an unparsable address is not."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(networks)) if ip.version == network.version)


def token_given(request: HttpRequest, token: str) -> bool:
    """Whether the request carries `Authorization: Bearer <token>`."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def metrics_allowed(request: HttpRequest) -> bool:
    """Whether this request may read the metrics."""
    token = settings.WFSITE_METRICS_TOKEN
    if token and token_given(request, token):
        return True
    return address_allowed(request.META.get("REMOTE_ADDR", ""), settings.WFSITE_METRICS_ALLOWED_NETWORKS)


@login_not_required
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Answer the metrics in Prometheus's text format, or 403."""
    if not metrics_allowed(request):
        return HttpResponse("Forbidden.", status=403, content_type="text/plain; charset=utf-8")
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)
