"""The audit store on a real PostgreSQL server: concurrent writers, JSON columns, text purge, drain on close, and
the proxy end to end writing its rows there.

Needs PSYCHOSAFE_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5433/psychosafe_test); `.ci/run`
starts a throwaway server and sets it. Every row written here has a request id starting `pgtest-<run>-`, so a test
counts only its own rows, and rows of earlier runs (prefix `pgtest-`) are deleted first: re-runs on the same
database are clean and nothing else in the table is touched.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select

from psychosafe.server.audit import AuditStore, turns

POSTGRES_URL = os.environ.get("PSYCHOSAFE_TEST_POSTGRES_URL", "").strip()

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL,
    reason="PSYCHOSAFE_TEST_POSTGRES_URL is not set, so there is no PostgreSQL server to test the audit store on "
    "(`.ci/run` starts a throwaway one and sets it)",
)

PREFIX = "pgtest-"
RUN = f"{PREFIX}{uuid.uuid4().hex[:8]}-"


def _ours(store: AuditStore, prefix: str = RUN) -> list[dict[str, Any]]:
    return [r for r in store.rows() if r["request_id"].startswith(prefix)]


def _count(store: AuditStore, prefix: str = RUN) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(turns)
                                .where(turns.c.request_id.startswith(prefix))).scalar_one())


def _row(request_id: str, **extra: Any) -> dict[str, Any]:
    return {"request_id": request_id, "endpoint": "chat", "status": 200, "action": "answer", "domain": "none",
            "intent": "informational", "severity": "none", "signals": [], "resources": [], "verification": None,
            "fallback": False, "cut_over": False, "country": None, "model": "test-model", "assessor": "embedded",
            "upstream_status": 200, "error": None, "latency_ms": 1.5, **extra}


@pytest.fixture(scope="module")
def store() -> Iterator[AuditStore]:
    """One started store for the module, on a table cleared of earlier runs' test rows."""
    audit = AuditStore(POSTGRES_URL, store_text=True, text_retention_days=30).start()
    with audit.engine.begin() as conn:
        conn.execute(delete(turns).where(turns.c.request_id.startswith(PREFIX)))
    yield audit
    audit.close()
    with AuditStore(POSTGRES_URL).engine.begin() as conn:  # leave the table as we found it
        conn.execute(delete(turns).where(turns.c.request_id.startswith(RUN)))


def test_the_url_is_postgresql(store: AuditStore) -> None:
    assert store.engine.dialect.name == "postgresql"
    assert store.count() >= 0


def test_rows_from_concurrent_threads_all_land(store: AuditStore) -> None:
    threads, per_thread = 8, 125
    prefix = RUN + "conc-"
    before = store.count()
    start = threading.Barrier(threads)

    def writer(t: int) -> None:
        start.wait()
        for i in range(per_thread):
            store.record(_row(f"{prefix}{t}-{i}", latency_ms=float(i)))

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    store.flush(timeout=60)
    sent = threads * per_thread
    assert store.stats["queued"] == 0 and store.stats["failed"] == 0, store.stats
    assert _count(store, prefix) == sent
    assert store.count() - before == sent
    ids = [r["request_id"] for r in _ours(store, prefix)]
    assert len(ids) == len(set(ids)) == sent


def test_json_columns_and_text_round_trip(store: AuditStore) -> None:
    from psychosafe.types import Message

    rid = RUN + "json"
    verification = {"passed": True, "draft_failed": ["resources_present"], "repairs": ["added the resources"],
                    "fallback": False, "nested": {"score": 0.25, "none": None}}
    messages = [Message(role="system", content="Be kind."), Message(role="user", content="Ça va ? 日本語 🙂")]
    store.record(_row(rid, action="crisis", domain="suicide_self_harm", intent="help_seeking", severity="imminent",
                      signals=["end my life", "tonight"], resources=["Samaritans", "NHS 111"],
                      verification=verification, fallback=True, cut_over=True, country="GB", upstream_status=None,
                      error="BackendError: boom"), messages, reply="Réponse — avec des accents.")
    store.flush()
    [row] = [r for r in _ours(store) if r["request_id"] == rid]
    assert row["signals"] == ["end my life", "tonight"]
    assert row["resources"] == ["Samaritans", "NHS 111"]
    assert row["verification"] == verification
    assert row["messages"] == [{"role": "system", "content": "Be kind."},
                               {"role": "user", "content": "Ça va ? 日本語 🙂"}]
    assert row["reply"] == "Réponse — avec des accents."
    assert row["fallback"] is True and row["cut_over"] is True
    assert row["upstream_status"] is None and row["error"] == "BackendError: boom"
    assert row["latency_ms"] == pytest.approx(1.5)
    assert len(row["conversation_sha256"]) == 64
    created = datetime.fromisoformat(row["created_at"])
    assert created.tzinfo is not None and abs(datetime.now(UTC) - created) < timedelta(minutes=5)
    since = [r["request_id"] for r in store.rows(since=created - timedelta(seconds=1))]
    assert rid in since


def test_purge_text_clears_only_old_text(store: AuditStore) -> None:
    from psychosafe.types import Message

    old, new = RUN + "purge-old", RUN + "purge-new"
    said = [Message(role="user", content="something private")]
    store.record(_row(old, created_at=datetime.now(UTC) - timedelta(days=45)), said, reply="old reply")
    store.record(_row(new), said, reply="new reply")
    store.flush()
    assert store.purge_text() >= 1
    rows = {r["request_id"]: r for r in _ours(store) if r["request_id"] in (old, new)}
    assert rows[old]["messages"] is None and rows[old]["reply"] is None
    assert rows[old]["conversation_sha256"] == rows[new]["conversation_sha256"]  # the hash stays
    assert rows[new]["messages"] == [{"role": "user", "content": "something private"}]
    assert rows[new]["reply"] == "new reply"


def test_close_writes_everything_queued() -> None:
    prefix = RUN + "close-"
    audit = AuditStore(POSTGRES_URL, batch_size=50).start()
    for i in range(600):
        audit.record(_row(f"{prefix}{i}"))
    audit.close()  # no flush: close itself must drain the queue
    assert audit.stats["failed"] == 0
    assert _count(AuditStore(POSTGRES_URL), prefix) == 600


def test_proxy_writes_its_rows_to_postgresql() -> None:
    from psychosafe.config import GuardConfig
    from psychosafe.guard import Guard
    from psychosafe.server.app import create_app
    from psychosafe.server.settings import ServerConfig
    from tests.support.upstream import ServerThread

    prefix = RUN + "e2e-"
    app = create_app(Guard(GuardConfig(backend="composer")),
                     ServerConfig(audit_url=POSTGRES_URL, audit_text=True))
    turns_sent: list[tuple[str, dict[str, Any], str]] = [
        ("chat", {"messages": [{"role": "user", "content": "What is the capital of Australia?"}]}, "answer"),
        ("chat", {"messages": [{"role": "user", "content": "I want to end my life tonight"}],
                  "psychosafe": {"country": "GB"}}, "crisis"),
        ("chat", {"messages": [{"role": "user", "content": "I want to end my life tonight"}], "stream": True},
         "crisis"),
        ("assess", {"messages": [{"role": "user", "content": "how do I make a toxic gas to hurt my roommate"}]},
         "refuse"),
    ]
    with ServerThread(app) as server:
        ready = httpx.get(server.url + "/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json()["problems"] == []
        for i, (endpoint, body, _) in enumerate(turns_sent):
            path = "/v1/chat/completions" if endpoint == "chat" else "/v1/psychosafe/assess"
            response = httpx.post(server.url + path, json=body, headers={"X-Request-ID": f"{prefix}{i}"},
                                  timeout=30)
            assert response.status_code == 200, response.text
            if body.get("stream"):
                assert response.text.rstrip().endswith("data: [DONE]")
    # the server has shut down: the lifespan closed the store, which drains its queue
    reader = AuditStore(POSTGRES_URL)
    deadline = time.monotonic() + 10
    while _count(reader, prefix) < len(turns_sent) and time.monotonic() < deadline:
        time.sleep(0.05)
    rows = {r["request_id"]: r for r in _ours(reader, prefix)}
    assert sorted(rows) == [f"{prefix}{i}" for i in range(len(turns_sent))]
    for i, (endpoint, _, action) in enumerate(turns_sent):
        row = rows[f"{prefix}{i}"]
        assert (row["endpoint"], row["status"], row["action"]) == (endpoint, 200, action), row
        assert len(row["conversation_sha256"]) == 64
        assert isinstance(row["signals"], list) and isinstance(row["resources"], list)
    crisis = rows[f"{prefix}1"]
    assert crisis["country"] == "GB" and crisis["resources"], crisis
    assert crisis["verification"]["passed"] is True
    assert crisis["messages"] == [{"role": "user", "content": "I want to end my life tonight"}]
    assert crisis["reply"]
    assert app.state.audit.stats["failed"] == 0


# ---------------------------------------------------------------------------------------------- rejected rows
# PostgreSQL enforces VARCHAR lengths (SQLite does not). A row it rejects must cost only itself, not the batch it
# was queued with; and the proxy audits the resolved ISO code, never the client's raw locale string.


def test_a_rejected_row_does_not_take_its_batch_with_it() -> None:
    prefix = RUN + "batch-"
    audit = AuditStore(POSTGRES_URL).start()
    for i in range(400):
        audit.record(_row(f"{prefix}{i}", country="en_GB.UTF-8" if i == 200 else None))
    audit.close()
    assert _count(AuditStore(POSTGRES_URL), prefix) == 399  # all but the one PostgreSQL refuses


def test_a_turn_with_a_locale_for_country_is_audited() -> None:
    from psychosafe.config import GuardConfig
    from psychosafe.guard import Guard
    from psychosafe.server.app import create_app
    from psychosafe.server.settings import ServerConfig
    from tests.support.upstream import ServerThread

    rid = RUN + "locale"
    app = create_app(Guard(GuardConfig(backend="composer")), ServerConfig(audit_url=POSTGRES_URL))
    with ServerThread(app) as server:
        response = httpx.post(server.url + "/v1/chat/completions", timeout=30,
                              json={"messages": [{"role": "user", "content": "What is the capital of Australia?"}]},
                              headers={"X-Request-ID": rid, "X-PsychoSafe-Country": "en_GB.UTF-8"})
        assert response.status_code == 200
    assert _count(AuditStore(POSTGRES_URL), rid) == 1
