"""Triage speed on one thread: the embedded assessor beside the keyword baseline, in one run.

Figures: p50/p99 per single message and per 20-message and 40-message conversation (10 and 20 user turns),
messages per second when a corpus is scored in batches, resident memory added by loading the assessor, cold start
(a fresh interpreter importing the package and assessing one message), and the time bound for a 1 MB message.
Messages and conversations are timed cold (the encoder's memory of texts emptied first); "20th message, earlier
read" is a guard's real pattern, where the conversation up to the previous turn was assessed a turn before.

Run: `OMP_NUM_THREADS=1 python benchmarks/triage_speed.py [--json out.json]`
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = "1"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 3),
            "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 3)}


def timed(fn, items, repeat: int = 1) -> list[float]:
    out = []
    for _ in range(repeat):
        for item in items:
            start = time.perf_counter()
            fn(item)
            out.append(time.perf_counter() - start)
    return out


def cold_start() -> float:
    code = ("import time; t=time.perf_counter();"
            "from psychosafe.triage.assessor import EmbeddedAssessor; from psychosafe.types import Message;"
            "EmbeddedAssessor().assess([Message(role='user', content='i want to end it tonight')]);"
            "print(time.perf_counter()-t)")
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True).stdout) for _ in range(5)]
    return round(statistics.median(runs), 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    before = rss_mb()
    from psychosafe.triage.assessor import EmbeddedAssessor
    from psychosafe.triage.corpus import load_messages
    from psychosafe.types import Message

    sys.path.insert(0, str(Path(__file__).parent))
    from triage_quality import KeywordBaseline

    assessor = EmbeddedAssessor()
    loaded = rss_mb()
    rng = random.Random(0)
    texts = [r.text for r in load_messages()]
    rng.shuffle(texts)
    singles = [[Message(role="user", content=t)] for t in texts[:2000]]

    def conversation(n_user: int) -> list[Message]:
        out: list[Message] = []
        for t in rng.sample(texts, n_user):
            out += [Message(role="user", content=t), Message(role="assistant", content=rng.choice(texts))]
        return out[:-1]

    conv20 = [conversation(10) for _ in range(200)]
    conv40 = [conversation(20) for _ in range(200)]
    keyword = KeywordBaseline()
    assessor.assess(singles[0])  # warm caches once, as a running server would be
    encoder = assessor.model.encoder

    def cold(messages: list[Message]) -> object:
        """Every text read from scratch: the encoder's memory of earlier texts is emptied first."""
        if encoder is not None:
            encoder.cache.clear()
        return assessor.assess(messages)

    def next_turn(messages: list[Message]) -> float:
        """A guard's real pattern: the conversation so far was assessed on the previous turn."""
        cold(messages[:-2])
        start = time.perf_counter()
        assessor.assess(messages)
        return time.perf_counter() - start

    results: dict[str, object] = {
        "embedded": {
            "message": percentiles(timed(cold, singles)),
            "conversation_20_messages": percentiles(timed(cold, conv20)),
            "conversation_40_messages": percentiles(timed(cold, conv40)),
            "next_turn_20_messages": percentiles([next_turn(c) for c in conv20]),
        },
        "keywords": {"message": percentiles(timed(keyword.decide, singles))},
    }
    if encoder is not None:
        encoder.cache.clear()
    start = time.perf_counter()
    batch = 256
    for i in range(0, len(singles), batch):
        assessor.assess_many(singles[i : i + batch])
    results["embedded"]["batched_messages_per_s"] = round(len(singles) / (time.perf_counter() - start))  # type: ignore[index]
    huge = [Message(role="user", content=("I feel lost. " * 80_000)[:1_000_000])]
    results["embedded"]["one_mb_message_ms"] = round(min(timed(assessor.assess, [huge], 3)) * 1000, 1)  # type: ignore[index]
    results["embedded"]["memory_added_mb"] = round(loaded - before, 1)  # type: ignore[index]
    results["embedded"]["cold_start_s"] = cold_start()  # type: ignore[index]

    e, k = results["embedded"], results["keywords"]
    print("triage speed, one thread                    embedded     keywords")
    print(f"  per message p50 / p99                 {e['message']['p50_ms']:7.2f} / {e['message']['p99_ms']:6.2f} ms"
          f"   {k['message']['p50_ms']:.3f} / {k['message']['p99_ms']:.3f} ms")
    for key, label in (("conversation_20_messages", "20-message conversation"),
                       ("conversation_40_messages", "40-message conversation"),
                       ("next_turn_20_messages", "20th message, earlier read")):
        print(f"  {label:28s} p50 / p99 {e[key]['p50_ms']:7.2f} / {e[key]['p99_ms']:6.2f} ms")
    print(f"  batched messages per second           {e['batched_messages_per_s']:7d}")
    print(f"  1 MB message (scored head and tail)   {e['one_mb_message_ms']:7.1f} ms")
    print(f"  memory added by loading               {e['memory_added_mb']:7.1f} MB")
    print(f"  cold start (fresh interpreter)        {e['cold_start_s']:7.3f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
