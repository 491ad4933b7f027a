"""The deployment files, read as the tools that use them read them. `deploy/smoke.sh` builds and
runs the image for real (with podman); `compose.yaml` cannot run here (no Docker engine), so
its shape is checked."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from service.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent


def compose() -> Any:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_compose_runs_postgres_18_a_migration_and_the_web_service() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "migrate", "web"}
    assert services["db"]["image"] == "postgres:18"
    assert services["migrate"]["command"] == ["sheetflow", "migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["web"]["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert services["web"]["image"] == services["migrate"]["image"]
    volume = services["db"]["volumes"][0].split(":")[0]
    assert volume in compose()["volumes"]


def test_compose_passes_only_documented_settings_with_valid_values() -> None:
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", (ROOT / "README.md").read_text(), re.M))
    for name in ("migrate", "web"):
        environment = compose()["services"][name]["environment"]
        assert "DATABASE_URL" in environment
        assert set(environment) <= documented
        load_settings({k: str(v) for k, v in environment.items() if not str(v).startswith("$")})


def test_the_image_is_multi_stage_locked_non_root_and_stops_on_sigterm() -> None:
    instructions = dockerfile_instructions()
    stages = [args for op, args in instructions if op == "FROM"]
    assert len(stages) == 2
    runs = [args for op, args in instructions if op == "RUN"]
    assert any("uv sync --locked --no-dev" in run for run in runs)
    runtime = instructions[[op for op, _ in instructions].index("FROM", 1) :]
    assert ("USER", "sheetflow") in runtime
    assert ("EXPOSE", "8000") in runtime
    assert ("STOPSIGNAL", "SIGTERM") in runtime
    assert ("VOLUME", "/data") in runtime
    assert any(op == "HEALTHCHECK" and "/health" in args for op, args in runtime)
    assert not any(
        op in {"ENV", "ARG"} and re.search(r"SECRET|PASSWORD|DATABASE_URL", args)
        for op, args in instructions
    )


def test_the_build_context_leaves_out_local_state_and_tests() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".data/", ".venv/", "tests/", ".git"} <= ignored
