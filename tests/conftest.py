import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest

from tests.support.upstream import ServerThread, UpstreamControl, build_app


@pytest.fixture(scope="session")
def _upstream_server():
    control = UpstreamControl()
    with ServerThread(build_app(control)) as server:
        yield server, control


@pytest.fixture
def upstream(_upstream_server):
    """A real OpenAI-compatible server on 127.0.0.1; reset to a normal reply for each test."""
    server, control = _upstream_server
    control.reply, control.fault, control.delay_s = "Here is an ordinary answer.", "none", 0.0
    control.requests.clear()
    return server, control
