"""Real servers on 127.0.0.1 for the proxy tests: the test upstream (tests/conftest.py) and proxies in front
of it.

The proxies are session-scoped so the suite stays fast; each test resets the upstream (`control`) and tells
its own turns apart by X-Request-ID.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from psychosafe.config import GuardConfig
from psychosafe.guard import Guard
from tests.server.helpers import GuardParts, Proxy, closed_port_url, running_proxy
from tests.support.upstream import ServerThread, UpstreamControl


@pytest.fixture(scope="session")
def guard_parts() -> GuardParts:
    guard = Guard(GuardConfig(backend="composer"))
    return GuardParts(guard.assessor, guard.knowledge, guard.directory)


@pytest.fixture(scope="session")
def upstream_url(_upstream_server: tuple[ServerThread, UpstreamControl]) -> str:
    return f"openai:{_upstream_server[0].url}/v1#test-model"


@pytest.fixture
def control(upstream: tuple[ServerThread, UpstreamControl]) -> UpstreamControl:
    """The upstream, reset to a normal reply with no fault and no recorded requests."""
    ctl = upstream[1]
    ctl.chunk_delay_s = 0.0
    return ctl


@pytest.fixture(scope="session")
def proxy(
    guard_parts: GuardParts, upstream_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    """The default proxy: risky turns composed (no upstream call), answers relayed and screened, text
    audited."""
    audit = tmp_path_factory.mktemp("proxy") / "audit.db"
    with running_proxy(guard_parts.guard(upstream_url), audit, audit_text=True) as running:
        yield running


@pytest.fixture(scope="session")
def open_proxy(
    guard_parts: GuardParts, upstream_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    """compose_actions=[]: risky turns are drafted by the upstream too (then verified); a 1 s upstream
    timeout."""
    audit = tmp_path_factory.mktemp("open-proxy") / "audit.db"
    guard = guard_parts.guard(upstream_url, compose_actions=[], timeout_s=1.0)
    with running_proxy(guard, audit, audit_text=True) as running:
        yield running


@pytest.fixture(scope="session")
def refused_proxy(guard_parts: GuardParts, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """Like `open_proxy`, but its upstream is an address where nothing listens."""
    audit = tmp_path_factory.mktemp("refused-proxy") / "audit.db"
    guard = guard_parts.guard(f"openai:{closed_port_url()}#test-model", compose_actions=[], timeout_s=1.0)
    with running_proxy(guard, audit, audit_text=True) as running:
        yield running
