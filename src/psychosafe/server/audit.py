"""The audit store: one row per turn the proxy handled, in SQLite (default) or PostgreSQL, via SQLAlchemy.

What a turn was judged to be and what was done, never by default what was said: message text is stored only as
a SHA-256 of the conversation unless `audit_text` is on, and stored text is erased after its retention period.
Rows are queued by the request and written in batches by one background thread, so a request never waits on the
database and a slow database never loses a row (the queue is drained on shutdown).
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine

from psychosafe.errors import ConfigError
from psychosafe.triage.signals import without_words
from psychosafe.types import Message

log = logging.getLogger(__name__)
metadata = MetaData()

turns = Table(
    "psychosafe_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("request_id", String(64), nullable=False, index=True),
    Column("endpoint", String(32), nullable=False),  # chat | assess
    Column("status", Integer, nullable=False),  # HTTP status returned to the client
    Column("action", String(16)),
    Column("domain", String(32)),
    Column("intent", String(24)),
    Column("severity", String(16)),
    Column("signals", JSON(none_as_null=True)),
    Column("resources", JSON(none_as_null=True)),  # names of the services offered
    Column("verification", JSON(none_as_null=True)),  # passed, the draft's failed checks, repairs
    Column("fallback", Boolean, default=False),
    Column("cut_over", Boolean, default=False),  # an answer stream replaced mid-way
    Column("country", String(8)),
    Column("model", Text),
    Column("assessor", Text),
    Column("upstream_status", Integer),
    Column("error", Text),
    Column("latency_ms", Float),
    Column("conversation_sha256", String(64), nullable=False),
    Column("messages", JSON(none_as_null=True)),  # only with audit_text
    Column("reply", Text),  # only with audit_text
)

_STOP = object()


def conversation_hash(messages: Sequence[Message]) -> str:
    """A stable fingerprint of what was sent, so turns can be matched without storing the words."""
    canonical = json.dumps([[m.role, m.content] for m in messages], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "replace")).hexdigest()


class AuditStore:
    def __init__(self, url: str, *, store_text: bool = False, text_retention_days: float = 30.0,
                 batch_size: int = 500):
        self.url = url
        self.store_text = store_text
        self.text_retention = timedelta(days=text_retention_days)
        self.batch_size = batch_size
        self.engine = _engine(url)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._written = 0
        self._failed = 0
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> AuditStore:
        metadata.create_all(self.engine)
        self.purge_text()
        self._writer = threading.Thread(target=self._run, name="psychosafe-audit", daemon=True)
        self._writer.start()
        return self

    def close(self) -> None:
        """Write everything queued, then stop."""
        if self._writer is not None:
            self._queue.put(_STOP)
            self._writer.join()
            self._writer = None
        self.engine.dispose()

    # ------------------------------------------------------------------------------------------ writing

    def record(self, row: dict[str, Any], messages: Sequence[Message] = (), reply: str | None = None) -> None:
        """Queue one turn; returns at once."""
        row = {**row, "created_at": row.get("created_at") or datetime.now(UTC),
               "conversation_sha256": conversation_hash(messages)}
        if self.store_text:
            row["messages"] = [{"role": m.role, "content": m.content} for m in messages]
            row["reply"] = reply
        self._queue.put(row)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued row is written (tests and export use it)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)

    @property
    def stats(self) -> dict[str, int]:
        return {"written": self._written, "failed": self._failed, "queued": self._queue.qsize()}

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            rows = [r for r in batch if r is not _STOP]
            if rows:
                self._write(rows)
            for _ in batch:
                self._queue.task_done()
            if any(r is _STOP for r in batch):
                return

    def _write(self, rows: list[dict[str, Any]]) -> None:
        """A batch in one transaction; if it keeps failing, row by row, so one bad row costs only itself."""
        if self._insert(rows, attempts=5):
            return
        lost = rows if len(rows) == 1 else [row for row in rows if not self._insert([row], attempts=2)]
        for row in lost:
            self._failed += 1
            log.error("audit row of request %s could not be written", row.get("request_id"))

    def _insert(self, rows: list[dict[str, Any]], attempts: int) -> bool:
        for attempt in range(attempts):  # a locked SQLite file or a PostgreSQL restart: retry, don't drop
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(turns), rows)
                self._written += len(rows)
                return True
            except Exception as exc:
                if attempt == attempts - 1:
                    log.warning("audit write of %d row(s) failed: %s", len(rows), exc)
                    return False
                time.sleep(0.05 * 2**attempt)
        return False

    # ------------------------------------------------------------------------------------------ reading

    def purge_text(self, now: datetime | None = None) -> int:
        """Erase stored text older than the retention period, and the words quoted in its signals; returns how
        many rows were cleared."""
        cutoff = (now or datetime.now(UTC)) - self.text_retention
        with self.engine.begin() as conn:
            stale = conn.execute(select(turns.c.id, turns.c.signals).where(turns.c.created_at < cutoff)
                                 .where((turns.c.messages.is_not(None)) | (turns.c.reply.is_not(None)))).all()
            if stale:
                conn.execute(update(turns).where(turns.c.id == bindparam("row_id"))
                             .values(messages=None, reply=None, signals=bindparam("kept")),
                             [{"row_id": r.id, "kept": [without_words(s) for s in r.signals or []]} for r in stale])
        return len(stale)

    def rows(self, since: datetime | None = None, limit: int | None = None) -> Iterator[dict[str, Any]]:
        query = select(turns).order_by(turns.c.id)
        if since is not None:
            query = query.where(turns.c.created_at >= since)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                out = dict(row._mapping)
                out["created_at"] = _aware(out["created_at"]).isoformat()
                yield out

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(turns)).scalar_one())


def _engine(url: str) -> Engine:
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, pool_pre_ping=True)
    except Exception as exc:
        raise ConfigError(f"cannot open the audit store {url!r}: {exc}") from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets several worker processes write one file and readers export while they do."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite hands back naive datetimes
