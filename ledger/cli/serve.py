"""``flexledger serve`` (the HTTP API and pages) and ``flexledger token`` (who may use them).

``token add`` prints the new token once, on stdout, and stores only its SHA-256; ``token
list`` never shows a token; ``token revoke`` writes a revocation row, and a second
revocation of the same token writes nothing and says so.
"""

from __future__ import annotations

import click

from ledger.cli.base import cli, json_option, print_json, print_table
from ledger.cli.context import open_ledger, settings
from ledger.domain.clock import SystemClock
from ledger.domain.errors import BadInput
from ledger.store.access import MAX_DAYS, issue_token, list_tokens, revoke_token
from ledger.store.db import display_url, open_engine
from workers import app

MAX_PORT = 65535


MAX_WORKERS = 16


def served_app():  # type: ignore[no-untyped-def]
    """One server process's app, built from the settings (a uvicorn factory: with
    ``--workers`` each process builds its own engine, access-log writer, token cache and
    verify-job relay)."""
    from ledger.api.app import create_app

    engine = open_engine(settings())
    jobs = None
    if settings().redis_url:  # the workers run verify jobs; this process only relays them
        from ledger.api.jobs import Relayed

        broker, _ = app.start(settings(), engine=engine)
        jobs = Relayed(engine, broker)
    return create_app(engine, jobs=jobs)


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=int,
    help="TCP port, 1-65535.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=int,
    help=f"Server processes, 1-{MAX_WORKERS}; more than 1 needs FLEXLEDGER_REDIS_URL.",
)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the read-only API (OpenAPI at /docs) and the auditor's pages."""
    if not 1 <= port <= MAX_PORT:
        raise BadInput("port", f"{port} is not a TCP port from 1 to {MAX_PORT}")
    if not 1 <= workers <= MAX_WORKERS:
        raise BadInput("workers", f"{workers} is not from 1 to {MAX_WORKERS}")
    if workers > 1 and not settings().redis_url:
        # Without Redis each process would run verify jobs itself, and every one of them
        # would resume the jobs a stopped server left: the same job run several times.
        raise BadInput(
            "workers",
            f"{workers} processes need FLEXLEDGER_REDIS_URL, so that the workers run the "
            "verify jobs once; without it serve with 1",
        )
    import uvicorn

    open_engine(settings()).dispose()  # refuses a database not at the head revision, now
    click.echo(f"database {display_url(settings().database_url)}", err=True)
    click.echo(f"pages at http://{host}:{port}/ (log in with a token), API at /docs", err=True)
    if settings().redis_url:
        click.echo("verify jobs go to the workers (FLEXLEDGER_REDIS_URL)", err=True)
    uvicorn.run(
        "ledger.cli.serve:served_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="info",
        proxy_headers=False,
        server_header=False,
    )


@cli.group("token")
def token() -> None:
    """API tokens: add (printed once), list, revoke."""


@token.command("add")
@click.option(
    "--role", required=True, help="auditor (read) or operator (read and start verify runs)."
)
@click.option("--name", default="api token", show_default=True, help="Who it is for.")
@click.option(
    "--expires",
    "days",
    default=90,
    show_default=True,
    type=int,
    help=f"Days until it expires, 1-{MAX_DAYS}.",
)
@json_option
def token_add(role: str, name: str, days: int, as_json: bool) -> None:
    """Make a token and print it, once: only its hash is stored."""

    ledger = open_ledger()
    with ledger.unit_of_work() as conn:
        token_id, secret = issue_token(conn, SystemClock(), role, name, days)
    if as_json:
        print_json({"id": token_id, "role": role, "name": name.strip(), "token": secret})
        return
    click.echo(secret)
    click.echo(f"token {token_id} ({role}, {days} days): shown once, keep it safe", err=True)


@token.command("list")
@json_option
def token_list(as_json: bool) -> None:
    """Every token: id, name, role, created, expires, state (never the token itself)."""

    ledger = open_ledger()
    with ledger.engine.connect() as conn:
        tokens = list_tokens(conn)
    now = SystemClock().now()
    rows = [
        {
            "id": t.id,
            "name": t.name,
            "role": t.role,
            "created_at": t.created_at.isoformat(),
            "expires_at": t.expires_at.isoformat(),
            "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
            "state": t.state(now),
        }
        for t in tokens
    ]
    if as_json:
        print_json({"tokens": rows})
        return
    columns = ("id", "name", "role", "created_at", "expires_at", "state")
    print_table("API tokens", columns, [[str(r[c]) for c in columns] for r in rows])


@token.command("revoke")
@click.argument("token_id", type=click.IntRange(1, 2**63 - 1))
def token_revoke(token_id: int) -> None:
    """Revoke a token from now on (a new row; nothing is changed)."""

    ledger = open_ledger()
    with ledger.unit_of_work() as conn:
        done = revoke_token(conn, SystemClock(), token_id)
    click.echo(f"token {token_id} revoked" if done else f"token {token_id} was already revoked")
