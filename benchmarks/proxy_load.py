"""Proxy under load: 10,000 chat requests, 200 in flight, through `psychosafe serve` with a SQLite audit store.

Three processes: this client (httpx, async, one connection per in-flight slot), the proxy (`psychosafe serve`, one
worker, PSYCHOSAFE_SERVER_MAX_CONCURRENCY=256, audit in SQLite in a temp dir, default guard) and a tiny upstream
answering at once (proxy_common.upstream_app). They share the machine's cores.

The mix (fixed seed): 80 % benign turns (`answer`, relayed to the upstream), 20 % risky turns (support / refuse /
crisis, composed by the guard: with the default compose_actions the upstream is not asked); a quarter of each kind
is streamed. Every request carries its own X-Request-ID. A warm-up of 500 requests (same mix) comes first.

Figures: HTTP statuses from the proxy (5xx must be 0; 429s are counted), client-side failures (timeouts, resets),
streams that ended without [DONE] or carried an error event, requests/s and latency p50/p99 per kind, the proxy's
RSS (VmRSS) at start, after warm-up and at the end, and its peak (VmHWM); then the proxy is stopped with SIGTERM
(graceful: the audit queue is drained) and the audit rows are counted against the requests sent, by request id
(missing and duplicated ids).

Run: `OMP_NUM_THREADS=1 python benchmarks/proxy_load.py [--requests 10000] [--concurrency 200] [--json out.json]`
Exit status 1 when the run is broken (a 5xx, a lost audit row, a failed request or stream, an unclean shutdown).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

os.environ["OMP_NUM_THREADS"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx

from proxy_common import (
    BENIGN,
    RISKY,
    Proxy,
    Upstream,
    chat_body,
    load_average,
    own_cpu_seconds,
    percentiles,
    read_stream,
    workdir,
)


def plan(n: int, seed: int, prefix: str) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        risky = rng.random() < 0.20
        out.append({"id": f"{prefix}-{i:05d}", "risky": risky, "stream": rng.random() < 0.25,
                    "text": rng.choice(RISKY if risky else BENIGN)})
    return out


async def drive(url: str, requests: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    """Send every request with `concurrency` in flight; what came back."""
    clients = [httpx.AsyncClient(timeout=httpx.Timeout(120, connect=30)) for _ in range(concurrency)]
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)
    statuses: Counter[int] = Counter()
    failures: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    latency: dict[str, list[float]] = defaultdict(list)
    bad_streams, fallbacks = 0, 0
    examples: list[str] = []

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal bad_streams, fallbacks
        while True:
            try:
                r = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            kind = ("risky" if r["risky"] else "benign") + ("_stream" if r["stream"] else "")
            start = time.perf_counter()
            try:
                report: dict[str, Any] | None = None
                if r["stream"]:
                    async with client.stream("POST", url + "/v1/chat/completions", json=chat_body(r["text"], True),
                                             headers={"X-Request-ID": r["id"]}) as response:
                        statuses[response.status_code] += 1
                        if response.status_code == 200:
                            events, done, _ = await read_stream(response)
                            if not done or any("error" in e for e in events):
                                bad_streams += 1
                            report = events[-1].get("psychosafe") if events else None
                        else:
                            await response.aread()
                            if len(examples) < 5:
                                examples.append(f"{response.status_code}: {response.text[:200]}")
                else:
                    response = await client.post(url + "/v1/chat/completions", json=chat_body(r["text"]),
                                                 headers={"X-Request-ID": r["id"]})
                    statuses[response.status_code] += 1
                    if response.status_code == 200:
                        report = response.json().get("psychosafe")
                    elif len(examples) < 5:
                        examples.append(f"{response.status_code}: {response.text[:200]}")
                latency[kind].append(time.perf_counter() - start)
                if report:
                    actions[report.get("action") or "none"] += 1
                    fallbacks += bool(report.get("fallback"))
            except httpx.HTTPError as exc:
                failures[type(exc).__name__] += 1
                if len(examples) < 5:
                    examples.append(f"{type(exc).__name__}: {exc}")

    start = time.perf_counter()
    try:
        await asyncio.gather(*(worker(c) for c in clients))
    finally:
        for c in clients:
            await c.aclose()
    elapsed = time.perf_counter() - start
    every = [t for ts in latency.values() for t in ts]
    return {"sent": len(requests), "seconds": round(elapsed, 2), "requests_per_s": round(len(requests) / elapsed, 1),
            "statuses": dict(sorted(statuses.items())), "client_failures": dict(failures),
            "bad_streams": bad_streams, "actions": dict(actions), "fallbacks": fallbacks,
            "latency": {"all": percentiles(every), **{k: percentiles(v) for k, v in sorted(latency.items())}},
            "examples": examples}


def audit_ids(db: Path) -> Counter[str]:
    with sqlite3.connect(db) as conn:
        return Counter(row[0] for row in conn.execute("SELECT request_id FROM psychosafe_audit"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--max-concurrency", type=int, default=256, help="the proxy's server.max_concurrency")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.max_concurrency < args.concurrency:
        parser.error("--max-concurrency must be at least --concurrency (else the proxy answers 429 by design)")

    tmp = workdir("psychosafe-bench-load-")
    db = tmp / "audit.db"
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "load_average_at_start": load_average()},
                               "concurrency": args.concurrency,
                               "proxy_max_concurrency": args.max_concurrency}
    try:
        with Upstream(tmp) as upstream, Proxy(upstream.url, tmp, audit_url=f"sqlite:///{db}", env={
                "PSYCHOSAFE_SERVER_MAX_CONCURRENCY": str(args.max_concurrency)}) as proxy:
            memory = {"start": proxy.memory_mb()["VmRSS"]}
            warm = plan(args.warmup, 1, "warm")
            main_run = plan(args.requests, 0, "load")
            results["warmup"] = asyncio.run(drive(proxy.url, warm, min(50, args.concurrency)))
            memory["after_warmup"] = proxy.memory_mb()["VmRSS"]
            cpu = (proxy.cpu_seconds(), upstream.cpu_seconds(), own_cpu_seconds())
            results["load"] = asyncio.run(drive(proxy.url, main_run, args.concurrency))
            seconds = results["load"]["seconds"]
            results["cpu_share_of_one_core"] = {
                name: round((now - then) / seconds, 2) for name, now, then in zip(
                    ("proxy", "upstream", "client"),
                    (proxy.cpu_seconds(), upstream.cpu_seconds(), own_cpu_seconds()), cpu, strict=True)}
            end = proxy.memory_mb()
            memory["end"], memory["peak_hwm"] = end["VmRSS"], end["VmHWM"]
            upstream_asked = upstream.log()["requests"]
            code, shutdown_s = proxy.stop()
            results["memory_mb"] = memory
            results["shutdown"] = {"exit_code": code, "clean": proxy.clean_exit(code), "seconds": round(shutdown_s, 2)}
            proxy_log = proxy.output()
        sent = Counter(r["id"] for r in warm + main_run)
        rows = audit_ids(db)
        missing = sum((sent - rows).values())
        extra = sum((rows - sent).values())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    load = results["load"]
    five_xx = sum(n for s, n in load["statuses"].items() if s >= 500) + \
        sum(n for s, n in results["warmup"]["statuses"].items() if s >= 500)
    results["audit"] = {"requests_sent": sum(sent.values()), "rows": sum(rows.values()), "missing_ids": missing,
                        "unexpected_or_duplicate_ids": extra}
    results["upstream_requests"] = upstream_asked
    results["five_xx"] = five_xx

    print(f"proxy load: {load['sent']:,} requests, {args.concurrency} in flight, after a {args.warmup}-request "
          f"warm-up ({os.cpu_count()} cores shared by client, proxy and upstream; proxy: 1 worker, SQLite audit, "
          f"max_concurrency {args.max_concurrency}; load average at start {results['machine']['load_average_at_start']}, "
          f"at end {load_average()})")
    print(f"  statuses from the proxy             {load['statuses']}")
    print(f"  5xx (warm-up + load)                {five_xx}")
    print(f"  429 (busy)                          {load['statuses'].get(429, 0)}")
    print(f"  client-side failures                {load['client_failures'] or 0}")
    print(f"  streams without [DONE] / with error {load['bad_streams']}")
    print(f"  actions                             {load['actions']}  (fallbacks {load['fallbacks']})")
    print(f"  upstream requests (all phases)      {upstream_asked:,}")
    print(f"  throughput                          {load['requests_per_s']:.1f} requests/s ({load['seconds']} s)")
    cpu = results["cpu_share_of_one_core"]
    print(f"  CPU used, share of one core         proxy {cpu['proxy']:.2f}, upstream {cpu['upstream']:.2f}, "
          f"client {cpu['client']:.2f}")
    print("  latency by kind                        n     p50 ms    p99 ms    max ms")
    for kind, p in load["latency"].items():
        print(f"    {kind:30s} {p['n']:6d}  {p['p50_ms']:8.1f}  {p['p99_ms']:8.1f}  {p['max_ms']:8.1f}")
    m = results["memory_mb"]
    print(f"  proxy RSS MB: start {m['start']:.1f}, after warm-up {m['after_warmup']:.1f}, end {m['end']:.1f}, "
          f"peak (VmHWM) {m['peak_hwm']:.1f}")
    s = results["shutdown"]
    print(f"  shutdown (SIGTERM)                  exit {s['exit_code']} ({'clean' if s['clean'] else 'NOT clean'}), "
          f"{s['seconds']:.2f} s")
    a = results["audit"]
    print(f"  audit rows after shutdown           {a['rows']:,} of {a['requests_sent']:,} requests sent "
          f"(missing ids {a['missing_ids']}, unexpected/duplicate {a['unexpected_or_duplicate_ids']})")
    for example in load["examples"]:
        print(f"  e.g. {example}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    broken = (five_xx or load["client_failures"] or load["bad_streams"] or a["missing_ids"]
              or a["unexpected_or_duplicate_ids"] or not s["clean"] or results["warmup"]["client_failures"])
    if broken:
        print(f"broken run; proxy log:\n{proxy_log}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
