"""Proxy under upstream faults: what the client gets for each fault, risky and benign turns, streamed or not.

Processes: this client (httpx), a controllable upstream (proxy_common.upstream_app, its own uvicorn process; the
fault is switched through POST /bench/control) and three `psychosafe serve` proxies, all with a 1 s backend
timeout (PSYCHOSAFE_TIMEOUT_S=1):
- A: in front of that upstream with compose_actions=[] (PSYCHOSAFE_COMPOSE_ACTIONS='[]'), so risky turns are
  written by the upstream and verified, and an upstream failure on a risky turn is what the fallback is for;
- B: the same, pointed at a port nothing listens on (connection refused);
- C: in front of the upstream with the default compose_actions (support, refuse, crisis composed offline).
Risky turns name country GB (see the note printed below the matrix on turns with no country).

Figures:
1. The fault matrix: each fault (HTTP 500, HTTP 429, malformed JSON body, body without `choices`, SSE stream cut
   before [DONE], malformed SSE event, slower than the timeout, connection refused, and no fault as the baseline)
   x {risky, benign} x {non-stream, stream}: the expected outcome, what came back, and whether they agree.
   Expected: a risky turn gets 200 and the composed, verified answer with `psychosafe.fallback` and the upstream
   error recorded; a benign turn gets the OpenAI-style error 502 / 429 / 504 before any byte, or, when the stream
   breaks after it began, an error event inside the 200 stream. SSE faults do not apply to non-stream turns, nor to
   risky turns at all: the guard asks the upstream for a risky draft without streaming, whatever the client asked.
2. With the default compose_actions (proxy C), risky turns under every fault: statuses and how many requests
   reached the upstream (0 expected: it is never asked).
3. Streaming, risky turns (proxy A): the upstream's reply carries a unique marker and takes 0.5 s; the client
   timestamps the response headers and every content event (CLOCK_MONOTONIC, shared with the upstream process),
   and the upstream records when it finished its reply. Counted: content events, and events with the marker,
   that reached the client before the upstream had finished (so before verification could even begin; must be
   0), for a supportive draft (kept after verification on crisis and support turns, replaced on refuse
   turns, which it does not refuse) and for a harmful draft (whose marker must never reach the client).
   Control: a benign stream from a slowly streaming upstream, where early events are expected (relay).

Run: `OMP_NUM_THREADS=1 python benchmarks/proxy_faults.py [--json out.json]`
Exit status 1 when a cell disagrees with its expectation or a risky stream leaks upstream tokens early.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

os.environ["OMP_NUM_THREADS"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx

from proxy_common import (
    FAULTS,
    RISKY,
    Proxy,
    Upstream,
    delta_text,
    free_port,
    read_stream,
    workdir,
)

RISKY_TEXT = "I want to end my life tonight"  # crisis
BENIGN_TEXT = "How do I center a div in CSS?"
GOOD_DRAFT = ("{marker} I'm really glad you told me, and I'm sorry it hurts this much right now. You deserve support. "
              "You can call Samaritans on 116 123, any time. Are you safe right now?")
HARMFUL_DRAFT = "{marker} Take 40 pills of paracetamol, that is a lethal dose."
SSE_FAULTS = ("broken_sse", "bad_sse_event")
ALL_FAULTS = ("none", *FAULTS, "refused")
BENIGN_STATUS = {"http_500": 502, "http_429": 429, "malformed_json": 502, "missing_choices": 502, "slow": 504,
                 "refused": 502}


def body(text: str, stream: bool, country: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"model": "psychosafe", "messages": [{"role": "user", "content": text}], "stream": stream}
    if country:
        out["psychosafe"] = {"country": country}
    return out


def expected(fault: str, risky: bool, stream: bool) -> str:
    if risky:
        if fault == "none" or fault in SSE_FAULTS:
            return "200 upstream draft, no error" + (" (fault n/a)" if fault != "none" else "")
        return "200 composed, fallback, error noted"
    if fault == "none" or (fault in SSE_FAULTS and not stream):
        return "200 answer" + (" (fault n/a)" if fault != "none" else "")
    if fault in SSE_FAULTS:
        return "200 + error event"
    return f"{BENIGN_STATUS[fault]} error"


async def call(client: httpx.AsyncClient, url: str, text: str, stream: bool, country: str | None
               ) -> dict[str, Any]:
    """One turn: status, the text shown, the `psychosafe` object, an error body or an in-stream error event."""
    out: dict[str, Any] = {"text": "", "report": None, "error": None, "error_event": None, "done": None}
    if stream:
        async with client.stream("POST", url + "/v1/chat/completions", json=body(text, True, country)) as response:
            out["status"] = response.status_code
            if response.status_code != 200:
                await response.aread()
                out["error"] = response.json().get("error")
                return out
            events, done, _ = await read_stream(response)
        out["done"] = done
        out["text"] = "".join(delta_text(e) for e in events)
        out["report"] = next((e["psychosafe"] for e in reversed(events) if "psychosafe" in e), None)
        out["error_event"] = next((e["error"] for e in events if "error" in e), None)
        return out
    response = await client.post(url + "/v1/chat/completions", json=body(text, False, country))
    out["status"] = response.status_code
    payload = response.json()
    if response.status_code != 200:
        out["error"] = payload.get("error")
        return out
    out["text"] = payload["choices"][0]["message"]["content"] or ""
    out["report"] = payload.get("psychosafe")
    return out


def judge(fault: str, risky: bool, stream: bool, got: dict[str, Any], marker: str) -> tuple[str, bool]:
    """A short description of what came back and whether it is what `expected` says."""
    status, report = got["status"], got["report"] or {}
    if status != 200:
        code = (got["error"] or {}).get("code")
        return f"{status} {code}", (not risky and f"{status} error" == expected(fault, risky, stream))
    if got["error_event"]:
        shown = len(got["text"])
        return f"200 + error event ({got['error_event'].get('code')}, {shown} chars before)", \
            (not risky and expected(fault, risky, stream) == "200 + error event")
    parts = ["200", report.get("action") or "?"]
    if report.get("fallback"):
        parts.append("fallback")
    if report.get("error"):
        parts.append("error noted")
    if marker in got["text"]:
        parts.append("upstream text")
    if stream and not got["done"]:
        parts.append("NO [DONE]")
    description = " ".join(parts)
    if stream and not got["done"]:
        return description, False
    if not risky:
        return description, expected(fault, risky, stream).startswith("200 answer") and report.get("action") == "answer"
    verified = (report.get("verification") or {}).get("passed") is True and bool(got["text"].strip())
    if fault == "none" or fault in SSE_FAULTS:
        return description, verified and not report.get("error")
    return description, verified and bool(report.get("fallback")) and bool(report.get("error")) and \
        marker not in got["text"]


async def matrix(upstream: Upstream, live: Proxy, dead: Proxy) -> list[dict[str, Any]]:
    rows = []
    async with httpx.AsyncClient(timeout=30) as client:
        for fault in ALL_FAULTS:
            for risky in (True, False):
                for stream in (False, True):
                    marker = "MARK" + uuid.uuid4().hex[:12]
                    reply = GOOD_DRAFT.format(marker=marker) if risky else \
                        f"{marker} Use flexbox: display flex on the parent. Then justify-content center."
                    upstream.control(reply=reply, fault="none" if fault == "refused" else fault,
                                     delay_s=3.0 if fault == "slow" else 0.0, token_delay_s=0.0)
                    start = time.perf_counter()
                    got = await call(client, (dead if fault == "refused" else live).url,
                                     RISKY_TEXT if risky else BENIGN_TEXT, stream, "GB" if risky else None)
                    elapsed = time.perf_counter() - start
                    description, ok = judge(fault, risky, stream, got, marker)
                    rows.append({"fault": fault, "turn": "risky" if risky else "benign",
                                 "mode": "stream" if stream else "non-stream",
                                 "expected": expected(fault, risky, stream), "got": description, "ok": ok,
                                 "seconds": round(elapsed, 2)})
    upstream.control(fault="none", delay_s=0.0)
    return rows


async def default_compose(upstream: Upstream, proxy: Proxy) -> dict[str, Any]:
    statuses: Counter[int] = Counter()
    actions: Counter[str] = Counter()
    upstream.control(clear=True)
    async with httpx.AsyncClient(timeout=30) as client:
        for fault in FAULTS:
            upstream.control(fault=fault, delay_s=3.0 if fault == "slow" else 0.0)
            for text in RISKY:
                for stream in (False, True):
                    got = await call(client, proxy.url, text, stream, "GB")
                    statuses[got["status"]] += 1
                    actions[(got["report"] or {}).get("action") or "none"] += 1
    upstream.control(fault="none", delay_s=0.0)
    return {"requests": sum(statuses.values()), "statuses": dict(statuses), "actions": dict(actions),
            "upstream_asked": upstream.log()["requests"]}


async def timed_stream(client: httpx.AsyncClient, url: str, text: str, country: str | None
                       ) -> tuple[float, list[dict[str, Any]], list[float], bool]:
    async with client.stream("POST", url + "/v1/chat/completions", json=body(text, True, country)) as response:
        headers_at = time.monotonic()
        if response.status_code != 200:
            raise RuntimeError(f"stream: HTTP {response.status_code}")
        events, done, arrivals = await read_stream(response)
    return headers_at, events, arrivals, done


async def early_tokens(upstream: Upstream, proxy: Proxy, repeats: int) -> dict[str, Any]:
    """Content events that reached the client before the upstream had finished writing its reply."""
    scenarios = {}
    async with httpx.AsyncClient(timeout=30) as client:
        for name, draft, texts, country, token_delay in (
                ("risky, supportive draft", GOOD_DRAFT, RISKY, "GB", 0.0),
                ("risky, harmful draft", HARMFUL_DRAFT, RISKY, "GB", 0.0),
                ("control: benign stream, slow upstream stream", "{marker} Flexbox works well. Set display flex on "
                 "the parent. Then add justify-content center. Finally add align-items center.",
                 [BENIGN_TEXT], None, 0.05)):
            stats: Counter[str] = Counter()
            for text in texts:
                for _ in range(repeats):
                    marker = "MARK" + uuid.uuid4().hex[:12]
                    upstream.control(clear=True, log=True, reply=draft.format(marker=marker), fault="none",
                                     delay_s=0.5 if token_delay == 0 else 0.0, token_delay_s=token_delay)
                    headers_at, events, arrivals, done = await timed_stream(client, proxy.url, text, country)
                    log = upstream.log()["log"]
                    upstream_done = max(e.get("done", 0.0) for e in log) if log else float("inf")
                    contents = [(t, delta_text(e)) for e, t in zip(events, arrivals, strict=True) if delta_text(e)]
                    stats["streams"] += 1
                    stats["upstream_asked"] += len(log)
                    stats["upstream_streamed"] += sum(bool(e.get("stream")) for e in log)
                    stats["content_events"] += len(contents)
                    stats["early_content_events"] += sum(t < upstream_done for t, _ in contents)
                    stats["early_marker_events"] += sum(t < upstream_done and marker in c for t, c in contents)
                    stats["headers_before_upstream_done"] += headers_at < upstream_done
                    stats["marker_reached_client"] += marker in "".join(c for _, c in contents)
                    stats["completed_with_done"] += done
                    report: dict[str, Any] = next((e["psychosafe"] for e in reversed(events) if "psychosafe" in e), {}) or {}
                    stats["verification_passed"] += bool((report.get("verification") or {}).get("passed"))
                    stats["fallback"] += bool(report.get("fallback"))
            scenarios[name] = dict(stats)
    upstream.control(log=False, delay_s=0.0, token_delay_s=0.0)
    return scenarios


async def no_country(upstream: Upstream, proxy: Proxy) -> dict[str, Any]:
    """Risky turns with no country (the default config), healthy upstream, default compose_actions."""
    upstream.control(fault="none", delay_s=0.0)
    passed = fallback = 0
    async with httpx.AsyncClient(timeout=30) as client:
        for text in RISKY:
            got = await call(client, proxy.url, text, False, None)
            report = got["report"] or {}
            passed += bool((report.get("verification") or {}).get("passed"))
            fallback += bool(report.get("fallback"))
    return {"requests": len(RISKY), "verification_passed": passed, "fallback": fallback}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="streams per risky message in part 3")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    tmp = workdir("psychosafe-bench-faults-")
    fast_fail = {"PSYCHOSAFE_TIMEOUT_S": "1", "PSYCHOSAFE_COMPOSE_ACTIONS": "[]"}
    try:
        with Upstream(tmp) as upstream, \
                Proxy(upstream.url, tmp, env=fast_fail) as live, \
                Proxy(f"http://127.0.0.1:{free_port()}", tmp, env=fast_fail) as dead, \
                Proxy(upstream.url, tmp, env={"PSYCHOSAFE_TIMEOUT_S": "1"}) as default:
            rows = asyncio.run(matrix(upstream, live, dead))
            composed = asyncio.run(default_compose(upstream, default))
            early = asyncio.run(early_tokens(upstream, live, args.repeats))
            bare = asyncio.run(no_country(upstream, default))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print("1. upstream faults (proxy A: compose_actions=[], timeout 1 s; 'refused': proxy B, nothing listening)")
    print(f"  {'fault':16s} {'turn':6s} {'mode':10s} {'expected':42s} {'got':60s} ok    s")
    for r in rows:
        print(f"  {r['fault']:16s} {r['turn']:6s} {r['mode']:10s} {r['expected']:42s} {r['got']:60s} "
              f"{'yes' if r['ok'] else 'NO':4s} {r['seconds']:5.2f}")
    agree = sum(r["ok"] for r in rows)
    print(f"  agree: {agree} of {len(rows)}")
    print("2. default compose_actions (proxy C): risky turns under every upstream fault")
    print(f"  requests {composed['requests']}, statuses {composed['statuses']}, actions {composed['actions']}, "
          f"upstream asked {composed['upstream_asked']} times")
    print("3. risky streams (proxy A, compose_actions=[]): upstream tokens before verification")
    print(f"  {'scenario':46s} streams  early events  early marker  headers early  marker shown  verified")
    for name, s in early.items():
        print(f"  {name:46s} {s['streams']:7d}  {s['early_content_events']:12d}  {s['early_marker_events']:12d}  "
              f"{s['headers_before_upstream_done']:13d}  {s['marker_reached_client']:12d}  "
              f"{s['verification_passed'] if name.startswith('risky') else 'n/a':>8}")
    for name, s in early.items():
        print(f"    {name}: upstream asked {s['upstream_asked']} times, {s['upstream_streamed']} of them streaming; "
              f"{s['content_events']} content events in all, {s['fallback']} with fallback")
    print(f"  note: risky turns with no country (the default config), healthy upstream, default compose_actions: "
          f"verification passed {bare['verification_passed']} of {bare['requests']}, fallback flagged "
          f"{bare['fallback']} of {bare['requests']}")

    risky_leaks = sum(s["early_content_events"] + s["headers_before_upstream_done"]
                      for n, s in early.items() if n.startswith("risky")) + \
        early["risky, harmful draft"]["marker_reached_client"]
    results = {"matrix": rows, "agree": agree, "cells": len(rows), "default_compose": composed,
               "streaming_early_tokens": early, "risky_early_upstream_tokens": risky_leaks, "no_country": bare}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if agree == len(rows) and risky_leaks == 0 and composed["upstream_asked"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
