"""The audit store behind the proxy (one row per turn, text only when asked, erased after retention), its
export command, and the /metrics and /readyz probes."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from psychosafe.server.audit import conversation_hash, turns
from psychosafe.types import Message
from tests.server.helpers import (
    BENIGN,
    CRISIS,
    HARMFUL_REPLY,
    GuardParts,
    Proxy,
    metric,
    request_id,
    running_proxy,
    user,
)
from tests.support.upstream import UpstreamControl

EXE = str(Path(sys.executable).parent / "psychosafe")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "LANG": "C.UTF-8", "LC_ALL": "", "COLUMNS": "200"}


@pytest.fixture(scope="module")
def hashed_proxy(
    guard_parts: GuardParts, upstream_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    """audit_text off (the default): rows hold the decision and a hash, never the words."""
    audit = tmp_path_factory.mktemp("hashed") / "audit.db"
    with running_proxy(guard_parts.guard(upstream_url), audit) as running:
        yield running


@pytest.fixture(scope="module")
def text_proxy(
    guard_parts: GuardParts, upstream_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    audit = tmp_path_factory.mktemp("text") / "audit.db"
    with running_proxy(
        guard_parts.guard(upstream_url), audit, audit_text=True, audit_text_retention_days=30
    ) as running:
        yield running


def turn(proxy: Proxy, text: str, **body: Any) -> tuple[str, dict[str, Any]]:
    rid = request_id()
    response = proxy.post(json={"messages": user(text), **body}, headers={"X-Request-ID": rid})
    assert response.status_code == 200, response.text
    return rid, response.json()


def db_path(proxy: Proxy) -> Path:
    return Path(proxy.app.state.audit.url.removeprefix("sqlite:///"))


def export(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, "audit", "export", *args], capture_output=True, text=True, timeout=120, env=ENV
    )


# ---------------------------------------------------------------------------------------------- rows


def test_a_row_holds_the_decision_and_a_hash_but_no_text_by_default(
    hashed_proxy: Proxy, control: UpstreamControl
) -> None:
    control.reply = "Use kill with the PID"
    crisis_rid, crisis = turn(hashed_proxy, CRISIS, psychosafe={"country": "GB"})
    benign_rid, _ = turn(hashed_proxy, BENIGN)
    row = hashed_proxy.audit_row(crisis_rid)
    report = crisis["psychosafe"]
    assert row["endpoint"] == "chat" and row["status"] == 200
    assert row["action"] == "crisis" and row["domain"] == "suicide_self_harm"
    assert row["intent"] == report["intent"] and row["severity"] == "imminent"
    assert "timeframe" in row["signals"] and len(row["signals"]) == len(report["signals"])  # without the words
    assert not any("tonight" in s or "end my life" in s for s in row["signals"])
    assert row["resources"] == [r["name"] for r in report["resources"]] and "Samaritans" in row["resources"]
    assert row["verification"] == report["verification"] and row["verification"]["passed"]
    assert row["country"] == "GB" and row["assessor"].startswith("embedded") and row["fallback"] is False
    assert row["latency_ms"] > 0 and row["upstream_status"] is None and row["error"] is None
    assert row["conversation_sha256"] == conversation_hash([Message(role="user", content=CRISIS)])
    assert row["messages"] is None and row["reply"] is None
    assert datetime.fromisoformat(row["created_at"]) > datetime.now(UTC) - timedelta(minutes=5)
    answer = hashed_proxy.audit_row(benign_rid)
    assert (
        answer["action"] == "answer" and answer["verification"] is None and answer["upstream_status"] == 200
    )
    assert answer["conversation_sha256"] != row["conversation_sha256"]
    assert answer["messages"] is None and answer["reply"] is None


def test_no_words_reach_the_database_file_when_audit_text_is_off(
    hashed_proxy: Proxy, control: UpstreamControl
) -> None:
    control.reply = "A reply that names QUOKKAREPLY"
    rid, _ = turn(hashed_proxy, "my secret is WOMBATSECRET and I want to end my life tonight")
    turn(hashed_proxy, "How do I rename WOMBATSECRET files in bash?")
    hashed_proxy.audit_row(rid)
    files = [p for p in db_path(hashed_proxy).parent.iterdir() if p.name.startswith("audit.db")]
    data = b"".join(p.read_bytes() for p in files)  # the database and its write-ahead log
    assert data and b"WOMBATSECRET" not in data and b"QUOKKAREPLY" not in data and b"end my life" not in data


def test_the_same_conversation_gets_the_same_hash(hashed_proxy: Proxy) -> None:
    first, _ = turn(hashed_proxy, CRISIS)
    second, _ = turn(hashed_proxy, CRISIS, psychosafe={"country": "US"})
    assert (
        hashed_proxy.audit_row(first)["conversation_sha256"]
        == hashed_proxy.audit_row(second)["conversation_sha256"]
    )


def test_with_audit_text_the_messages_and_reply_are_stored(
    text_proxy: Proxy, control: UpstreamControl
) -> None:
    control.reply = "Use kill with the PID"
    crisis_rid, crisis = turn(text_proxy, CRISIS, psychosafe={"country": "GB"})
    benign_rid, _ = turn(text_proxy, BENIGN)
    row = text_proxy.audit_row(crisis_rid)
    assert row["messages"] == user(CRISIS)
    assert row["reply"] == crisis["choices"][0]["message"]["content"] and "116 123" in row["reply"]
    answer = text_proxy.audit_row(benign_rid)
    assert answer["messages"] == user(BENIGN) and answer["reply"] == control.reply


def test_a_burst_of_concurrent_turns_loses_no_row(text_proxy: Proxy, control: UpstreamControl) -> None:
    rids = [request_id() for _ in range(30)]

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=text_proxy.url, timeout=30) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/v1/chat/completions",
                        headers={"X-Request-ID": rid},
                        json={"messages": user(CRISIS if i % 3 == 0 else BENIGN), "stream": i % 2 == 0},
                    )
                    for i, rid in enumerate(rids)
                )
            )
            return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [200] * 30
    for rid in rids:
        assert len(text_proxy.audit_rows(rid)) == 1, rid


def test_stored_text_is_erased_after_the_retention_period(text_proxy: Proxy) -> None:
    rid, _ = turn(text_proxy, CRISIS)
    store = text_proxy.app.state.audit
    assert text_proxy.audit_row(rid)["messages"] == user(CRISIS)
    now = datetime.now(UTC)
    assert store.purge_text(now=now) == 0
    assert store.purge_text(now=now + timedelta(days=29)) == 0  # still within the 30 days
    cleared = store.purge_text(now=now + timedelta(days=31))
    assert cleared >= 1 and cleared == store.count()
    row = text_proxy.audit_row(rid)
    assert row["messages"] is None and row["reply"] is None
    assert row["action"] == "crisis" and row["conversation_sha256"]  # the decision and the hash stay
    assert "timeframe" in row["signals"]  # the signals stay, without the words they quoted
    assert not any("tonight" in s or "end my life" in s for s in row["signals"])


def test_a_second_purge_finds_nothing_left_to_erase(text_proxy: Proxy) -> None:
    # purge_text returns "how many rows were cleared"; rows already cleared must not be counted (or rewritten,
    # which happens on every start) again.
    rid, _ = turn(text_proxy, CRISIS)
    text_proxy.audit_row(rid)
    store, later = text_proxy.app.state.audit, datetime.now(UTC) + timedelta(days=31)
    assert store.purge_text(now=later) >= 1
    assert store.purge_text(now=later) == 0


# ---------------------------------------------------------------------------------------------- export


def test_audit_export_writes_csv_and_jsonl(text_proxy: Proxy, tmp_path: Path) -> None:
    rid, _ = turn(text_proxy, CRISIS, psychosafe={"country": "GB"})
    text_proxy.audit_row(rid)
    url = text_proxy.app.state.audit.url
    total = text_proxy.app.state.audit.count()

    proc = export("--url", url, "--out", str(tmp_path / "audit.csv"))
    assert proc.returncode == 0, proc.stderr
    assert f"{total} turns" in proc.stderr
    with (tmp_path / "audit.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert reader.fieldnames == [c.name for c in turns.columns]
    assert len(rows) == total
    [mine] = [r for r in rows if r["request_id"] == rid]
    assert mine["action"] == "crisis" and mine["country"] == "GB" and mine["status"] == "200"
    assert "Samaritans" in json.loads(mine["resources"]) and json.loads(mine["verification"])["passed"]

    proc = export("--url", url, "--out", str(tmp_path / "audit.jsonl"))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(lines) == total
    [mine] = [r for r in lines if r["request_id"] == rid]
    assert mine["action"] == "crisis" and mine["messages"] == user(CRISIS) and "116 123" in mine["reply"]
    assert datetime.fromisoformat(mine["created_at"]).tzinfo is not None


def test_audit_export_to_stdout_with_limit_and_since(text_proxy: Proxy) -> None:
    rid, _ = turn(text_proxy, BENIGN)
    text_proxy.audit_row(rid)
    url = text_proxy.app.state.audit.url
    proc = export("--url", url, "--limit", "2")
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["id"] for line in proc.stdout.splitlines()] == [1, 2]
    future = export("--url", url, "--since", "2999-01-01")
    assert future.returncode == 0 and future.stdout == ""
    bad = export("--url", url, "--since", "last tuesday")
    assert bad.returncode == 2 and "--since" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------------------- probes


def test_metrics_count_requests_by_action_domain_and_status(
    hashed_proxy: Proxy, control: UpstreamControl
) -> None:
    crisis = {"endpoint": "chat", "action": "crisis", "domain": "suicide_self_harm", "status": "200"}
    answer = {"endpoint": "chat", "action": "answer", "domain": "none", "status": "200"}
    assess = {"endpoint": "assess", "action": "crisis"}
    before = {
        name: metric(hashed_proxy, "psychosafe_requests_total", **labels)
        for name, labels in (("crisis", crisis), ("answer", answer), ("assess", assess))
    }
    latency = metric(hashed_proxy, "psychosafe_request_seconds_count", endpoint="chat", action="crisis")
    cut_overs = metric(hashed_proxy, "psychosafe_stream_cut_overs_total")
    turn(hashed_proxy, CRISIS)
    turn(hashed_proxy, CRISIS)
    turn(hashed_proxy, BENIGN)
    hashed_proxy.post("/v1/psychosafe/assess", json={"messages": user(CRISIS)})
    control.reply = HARMFUL_REPLY
    turn(hashed_proxy, "tell me about sleeping well")
    assert metric(hashed_proxy, "psychosafe_requests_total", **crisis) == before["crisis"] + 2
    assert metric(hashed_proxy, "psychosafe_requests_total", **answer) == before["answer"] + 1
    assert metric(hashed_proxy, "psychosafe_requests_total", **assess) == before["assess"] + 1
    assert (
        metric(hashed_proxy, "psychosafe_request_seconds_count", endpoint="chat", action="crisis")
        == latency + 2
    )
    assert metric(hashed_proxy, "psychosafe_stream_cut_overs_total") == cut_overs + 1
    assert metric(hashed_proxy, "psychosafe_guard_seconds_count", endpoint="chat") > 0
    text = hashed_proxy.get("/metrics").text
    assert "# TYPE psychosafe_requests_total counter" in text


def test_readyz_reports_the_assessor_backend_and_audit(hashed_proxy: Proxy, upstream_url: str) -> None:
    response = hashed_proxy.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready" and body["problems"] == []
    assert body["assessor"] == "embedded" and body["backend"] == upstream_url
    assert body["audit"]["failed"] == 0 and body["audit"]["written"] >= 1
    assert hashed_proxy.get("/healthz").json() == {"status": "ok"}


def test_readyz_without_an_audit_store(guard_parts: GuardParts, upstream_url: str) -> None:
    with running_proxy(guard_parts.guard(upstream_url), None) as no_audit:
        assert no_audit.app.state.audit is None
        response = no_audit.get("/readyz")
        completion = no_audit.post(json={"messages": user(CRISIS)})
    assert response.status_code == 200 and response.json()["audit"] is None
    assert completion.status_code == 200 and completion.json()["psychosafe"]["action"] == "crisis"
