"""The production description (docker-compose.yml, Dockerfile) agrees with the code.

No Docker engine runs in CI here, so these tests check what can be checked without one:
every service the issue names is there, every command a container runs is a real
``flexledger`` command with real options, every variable it sets is one the code reads,
and the image holds every package the distribution ships.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from ledger.cli import cli

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
OURS = [name for name, service in SERVICES.items() if service.get("image") == "flexledger:latest"]


def test_compose_runs_postgres_redis_the_migrations_workers_the_scheduler_and_the_api():
    assert {"postgres", "redis", "migrate", "worker", "scheduler", "api"} <= set(SERVICES)
    assert sorted(OURS) == ["api", "migrate", "scheduler", "worker"]


@pytest.mark.parametrize("service", OURS)
def test_each_container_runs_a_real_flexledger_command(service):
    name, *args = SERVICES[service]["command"]
    command = cli.commands[name]  # KeyError: no such command
    command.make_context(name, list(args))  # click.UsageError: no such option


def test_workers_and_the_scheduler_start_only_after_the_migrations_succeeded():
    for service in ("worker", "scheduler", "api"):
        depends = SERVICES[service]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}
        assert depends["postgres"]["condition"] == "service_healthy"
    assert SERVICES["migrate"]["command"] == ["init"]
    assert SERVICES["migrate"]["restart"] == "no"


def test_the_worker_service_can_be_scaled():
    """``--scale worker=N`` needs no fixed container name or host port."""
    assert "container_name" not in SERVICES["worker"]
    assert "ports" not in SERVICES["worker"]


def test_every_variable_compose_sets_is_one_the_code_reads():
    code = "".join(
        path.read_text(encoding="utf-8")
        for folder in ("ledger", "workers")
        for path in (ROOT / folder).rglob("*.py")
    )
    for service in OURS:
        for variable in SERVICES[service]["environment"]:
            if variable.startswith("FLEXLEDGER_"):
                assert f'"{variable}"' in code, f"{service} sets {variable}, which nothing reads"
    environment = SERVICES["worker"]["environment"]
    assert environment["FLEXLEDGER_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert environment["FLEXLEDGER_REDIS_URL"].startswith("redis://redis:")


def test_the_api_listens_on_every_address_of_its_container_but_only_on_the_hosts_loopback():
    assert SERVICES["api"]["command"][:3] == ["serve", "--host", "0.0.0.0"]
    assert SERVICES["api"]["ports"] == ["127.0.0.1:8000:8000"]


def test_redis_keeps_what_it_was_handed_across_a_restart():
    """Messages handed to Redis and not yet processed exist only there."""
    command = SERVICES["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"


def test_the_image_copies_every_package_the_distribution_ships():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = set(re.findall(r"^COPY (\S+) ", dockerfile, flags=re.MULTILINE))
    assert set(shipped) <= copied
    assert re.search(r"^ENTRYPOINT \[\"flexledger\"\]", dockerfile, flags=re.MULTILINE)
