"""The bundled demo: realistic conversations through the full guard, as a table and an HTML page."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from jinja2 import Environment, FileSystemLoader, select_autoescape

from psychosafe.guard import Guard
from psychosafe.types import Action, GuardResult, Message

HERE = Path(__file__).parent


@dataclass
class DemoCase:
    title: str
    country: str
    expect: Action
    messages: list[Message]
    result: GuardResult | None = None


def load_cases(path: Path = HERE / "conversations.yaml") -> list[DemoCase]:
    return [
        DemoCase(c["title"], c["country"], Action(c["expect"]), [Message.model_validate(m) for m in c["messages"]])
        for c in yaml.safe_load(path.read_text(encoding="utf-8"))
    ]


def run(guard: Guard, cases: list[DemoCase], on_done: Callable[[DemoCase], None] | None = None) -> list[DemoCase]:
    for case in cases:
        case.result = guard.respond(case.messages, country=case.country)
        if on_done:
            on_done(case)
    return cases


def render_html(cases: list[DemoCase], backend: str, assessor: str) -> str:
    env = Environment(loader=FileSystemLoader(HERE), autoescape=select_autoescape(["html", "j2"]))
    done = [c for c in cases if c.result is not None]
    counts = Counter(c.result.decision.action.value for c in done)  # type: ignore[union-attr]
    return env.get_template("report.html.j2").render(
        cases=done,
        counts=[(a.value, counts.get(a.value, 0)) for a in Action],
        agree=sum(c.expect is c.result.decision.action for c in done),  # type: ignore[union-attr]
        backend=backend,
        assessor=assessor,
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
    )
