"""Proxy overhead: the same upstream called directly and through `psychosafe serve`, interleaved in one run.

Three processes: this client (httpx, async), the proxy (`psychosafe serve`, one worker, SQLite audit in a temp
dir, default guard: embedded assessor, default compose_actions) and a tiny upstream that answers at once with a
fixed ~50-word completion (proxy_common.upstream_app, its own uvicorn process). They share the machine's cores.

Figures:
- benign `answer` turns, non-streaming, one at a time, direct and proxied alternating request by request (the
  order flipped every pair): p50/p99 of direct, proxied and added latency (added = proxied percentile minus direct
  percentile; the percentiles of the per-pair differences are printed too), plus the guard's own time inside the
  proxy (`psychosafe.timings_ms.guard`: assess, decide, screening of the reply);
- the same for streamed turns (time to [DONE]), interleaved the same way;
- POST /v1/psychosafe/assess (no upstream), benign and risky messages: p50/p99;
- throughput, requests/s, at concurrency 1, 16 and 64, direct and through the proxy (each cell runs for a fixed
  time after a short warm-up).

Run: `OMP_NUM_THREADS=1 python benchmarks/proxy_overhead.py [--n 2000] [--seconds 8] [--json out.json]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
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
    percentiles,
    read_stream,
    workdir,
)


class Broken(Exception):
    pass


async def timed_chat(client: httpx.AsyncClient, url: str, text: str, stream: bool = False
                     ) -> tuple[float, dict[str, Any] | None]:
    """Seconds for one chat turn and the proxy's `psychosafe` object (None direct); raises Broken on a failure."""
    start = time.perf_counter()
    if stream:
        async with client.stream("POST", url + "/v1/chat/completions", json=chat_body(text, True)) as response:
            if response.status_code != 200:
                raise Broken(f"{url}: HTTP {response.status_code}")
            events, done, _ = await read_stream(response)
        elapsed = time.perf_counter() - start
        if not done or any("error" in e for e in events):
            raise Broken(f"{url}: stream without [DONE] or with an error event")
        return elapsed, events[-1].get("psychosafe")
    response = await client.post(url + "/v1/chat/completions", json=chat_body(text))
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise Broken(f"{url}: HTTP {response.status_code}: {response.text[:200]}")
    return elapsed, response.json().get("psychosafe")


async def interleaved(client: httpx.AsyncClient, direct: str, proxied: str, n: int, stream: bool
                      ) -> dict[str, Any]:
    d_times, p_times, diffs, guard_ms, not_answer = [], [], [], [], 0
    for i in range(n):
        text = BENIGN[i % len(BENIGN)]
        order = (direct, proxied) if i % 2 == 0 else (proxied, direct)
        got: dict[str, tuple[float, dict[str, Any] | None]] = {}
        for url in order:
            got[url] = await timed_chat(client, url, text, stream)
        (dt, _), (pt, report) = got[direct], got[proxied]
        d_times.append(dt)
        p_times.append(pt)
        diffs.append(pt - dt)
        if report is None or report.get("action") != "answer":
            not_answer += 1
        elif "guard" in report.get("timings_ms", {}):
            guard_ms.append(report["timings_ms"]["guard"] / 1000)
    d, p = percentiles(d_times), percentiles(p_times)
    return {"n": n, "direct": d, "proxied": p,
            "added": {"p50_ms": round(p["p50_ms"] - d["p50_ms"], 3), "p99_ms": round(p["p99_ms"] - d["p99_ms"], 3)},
            "paired_difference": percentiles(diffs), "guard_in_proxy": percentiles(guard_ms),
            "not_answer": not_answer}


async def assess_latency(client: httpx.AsyncClient, proxied: str, n: int) -> dict[str, Any]:
    texts = BENIGN + RISKY
    times = []
    for i in range(n):
        start = time.perf_counter()
        response = await client.post(proxied + "/v1/psychosafe/assess",
                                     json={"messages": [{"role": "user", "content": texts[i % len(texts)]}]})
        times.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise Broken(f"assess: HTTP {response.status_code}: {response.text[:200]}")
    return percentiles(times)


async def throughput(url: str, concurrency: int, seconds: float) -> dict[str, Any]:
    """Requests/s with `concurrency` requests in flight. Each in-flight slot has its own client and connection:
    one httpx pool shared by many concurrent requests slows the *client* down sharply (measured here: a shared
    pool gave ~180 req/s at 64 in flight against an upstream that serves ~2,300), which would hide the proxy."""
    clients = [httpx.AsyncClient(timeout=60) for _ in range(concurrency)]
    stop_at = 0.0
    done, times = 0, []

    async def worker(k: int, measure: bool) -> None:
        nonlocal done
        i = k
        while time.perf_counter() < stop_at:
            t, _ = await timed_chat(clients[k], url, BENIGN[i % len(BENIGN)])
            i += concurrency
            if measure:
                done += 1
                times.append(t)

    try:
        stop_at = time.perf_counter() + min(2.0, seconds / 4)  # warm-up: open the connections
        await asyncio.gather(*(worker(k, False) for k in range(concurrency)))
        start = time.perf_counter()
        stop_at = start + seconds
        await asyncio.gather(*(worker(k, True) for k in range(concurrency)))
        elapsed = time.perf_counter() - start
    finally:
        for client in clients:
            await client.aclose()
    return {"requests_per_s": round(done / elapsed, 1), "requests": done, "latency": percentiles(times)}


def show_latency(title: str, r: dict[str, Any]) -> None:
    print(f"{title} (n = {r['n']} each, interleaved)      p50 ms    p99 ms    max ms")
    for key, label in (("direct", "direct to upstream"), ("proxied", "through the proxy")):
        x = r[key]
        print(f"  {label:34s} {x['p50_ms']:8.2f}  {x['p99_ms']:8.2f}  {x['max_ms']:8.2f}")
    a, d, g = r["added"], r["paired_difference"], r["guard_in_proxy"]
    print(f"  {'added (proxied - direct)':34s} {a['p50_ms']:8.2f}  {a['p99_ms']:8.2f}")
    print(f"  {'  per-pair difference':34s} {d['p50_ms']:8.2f}  {d['p99_ms']:8.2f}  {d['max_ms']:8.2f}")
    print(f"  {'  of which guard in the proxy':34s} {g['p50_ms']:8.2f}  {g['p99_ms']:8.2f}  {g['max_ms']:8.2f}")
    if r["not_answer"]:
        print(f"  ! {r['not_answer']} proxied turns were not `answer`")


async def run(args: argparse.Namespace, direct: str, proxied: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=60) as client:
        for url in (direct, proxied):  # warm-up: connections, the assessor's caches
            for i in range(100):
                await timed_chat(client, url, BENIGN[i % len(BENIGN)], stream=i % 4 == 0)
        results["answer_non_stream"] = await interleaved(client, direct, proxied, args.n, stream=False)
        show_latency("benign answer turns, non-streaming", results["answer_non_stream"])
        results["answer_stream"] = await interleaved(client, direct, proxied, args.n_stream, stream=True)
        show_latency("benign answer turns, streamed to [DONE]", results["answer_stream"])
        results["assess"] = await assess_latency(client, proxied, args.n)
        a = results["assess"]
        print(f"POST /v1/psychosafe/assess (n = {a['n']}, benign and risky, no upstream)")
        print(f"  p50 / p99 / max                    {a['p50_ms']:8.2f}  {a['p99_ms']:8.2f}  {a['max_ms']:8.2f}")
    results["throughput"] = {}
    print(f"throughput, benign non-streaming turns ({args.seconds:.0f} s per cell)")
    print("  concurrency    direct req/s   proxied req/s   proxied/direct   proxied p50 / p99 ms")
    for c in (1, 16, 64):
        d = await throughput(direct, c, args.seconds)
        p = await throughput(proxied, c, args.seconds)
        results["throughput"][str(c)] = {"direct": d, "proxied": p}
        print(f"  {c:11d}   {d['requests_per_s']:12.1f}   {p['requests_per_s']:13.1f}   "
              f"{p['requests_per_s'] / d['requests_per_s']:14.2f}   "
              f"{p['latency']['p50_ms']:8.2f} / {p['latency']['p99_ms']:.2f}")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="interleaved non-streaming pairs (and assess calls)")
    parser.add_argument("--n-stream", type=int, default=500, help="interleaved streamed pairs")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per throughput cell")
    parser.add_argument("--audit", default="sqlite", choices=["sqlite", "none"], help="the proxy's audit store")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    tmp = workdir("psychosafe-bench-overhead-")
    try:
        with Upstream(tmp) as upstream, Proxy(upstream.url, tmp, audit_url=None if args.audit == "sqlite"
                                              else "none") as proxy:
            print(f"machine: {os.cpu_count()} cores shared by client, proxy and upstream; proxy: psychosafe serve, "
                  f"1 worker, audit {args.audit}; upstream replies at once; load average {load_average()}")
            try:
                results = asyncio.run(run(args, upstream.url, proxy.url))
            except (Broken, httpx.HTTPError) as exc:
                print(f"broken run: {type(exc).__name__}: {exc}\nproxy log:\n{proxy.output()}", file=sys.stderr)
                return 1
            results["proxy_memory_mb"] = proxy.memory_mb()
            code, _ = proxy.stop()
            if not proxy.clean_exit(code):
                print(f"the proxy exited with {code} on SIGTERM:\n{proxy.output()}", file=sys.stderr)
                return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["machine"] = {"cpus": os.cpu_count(), "audit": args.audit, "load_average_at_end": load_average()}
    print(f"load average at the end: {load_average()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
