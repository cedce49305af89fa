"""Least-privilege PostgreSQL roles for a ledger's schema: owner, writer and auditor.

- **owner** (default ``flexledger_owner``): owns every table, sequence and trigger function
  of the ledger's schema and may create in it; the only role ``flexledger init`` (the
  migrations) should connect as.
- **writer** (default ``flexledger_writer``): what workers, the CLI's writing commands and
  the API connect as. SELECT and INSERT on every ledger table (the journal's append-only
  tables among them), UPDATE on the workers' bookkeeping tables only (``outbox.sent_at``,
  ``job_messages.status``, ``processed_messages.outcome``, which the workers update in
  place; see ``ledger.store.worker_tables``), USAGE on the schema's sequences. No DELETE,
  TRUNCATE, REFERENCES or TRIGGER anywhere, owns nothing, so it cannot ALTER a table or
  disable its triggers.
- **auditor** (default ``flexledger_auditor``): USAGE on the schema and SELECT on every
  ledger table but ``api_tokens`` (``SECRET_TABLES``: the token hashes the API checks),
  nothing else.

``apply_roles`` compares what the database grants with that and changes only the
difference (roles created or their attributes put right, privileges granted or revoked,
ownership moved to the owner), so a second run changes nothing and says so. Passwords,
when given, are sent as SCRAM-SHA-256 verifiers computed here: the password itself never
reaches the server, its logs or this process's arguments (the CLI reads it from an
environment variable). Roles are cluster-wide; privileges are per schema (the connection's
``current_schema()``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, text

from ledger.domain.errors import BadInput, LedgerNotInitialised, NotPostgres
from ledger.store.catalog import metadata
from ledger.store.worker_tables import WORKER_TABLES

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
SCRAM_ITERATIONS = 4096
# LOGIN, and none of the attributes that would let a role step around its privileges.
ATTRIBUTES = {
    "rolsuper": "SUPERUSER",
    "rolcreatedb": "CREATEDB",
    "rolcreaterole": "CREATEROLE",
    "rolreplication": "REPLICATION",
    "rolbypassrls": "BYPASSRLS",
}


@dataclass(frozen=True)
class RoleNames:
    owner: str = "flexledger_owner"
    writer: str = "flexledger_writer"
    auditor: str = "flexledger_auditor"

    def check(self) -> None:
        for field, name in (
            ("owner", self.owner),
            ("writer", self.writer),
            ("auditor", self.auditor),
        ):
            if not ROLE_NAME.match(name):
                raise BadInput(field, f"{name!r} is not a plain lower-case role name")
        if len({self.owner, self.writer, self.auditor}) != 3:
            raise BadInput("roles", "owner, writer and auditor must be three different roles")


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802, 7677)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt).decode()}"
        f"${b64(stored_key).decode()}:{b64(server_key).decode()}"
    )


def _verifier_matches(stored: str | None, password: str) -> bool:
    match = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)", stored or "")
    if match is None:
        return False
    iterations, salt = int(match[1]), base64.b64decode(match[2])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = base64.b64encode(hashlib.sha256(client_key).digest()).decode()
    return hmac.compare_digest(stored_key, match[3])


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ledger_tables() -> list[str]:
    """Every table the ledger's schema defines, ``alembic_version`` included."""
    return sorted([*metadata.tables, "alembic_version"])


# Tables the auditor does not read: the API's token hashes are what the API checks a bearer
# against, and least privilege keeps them to the roles that check (the writer, for the API).
SECRET_TABLES = frozenset({"api_tokens"})


def wanted_privileges(names: RoleNames, table: str) -> dict[str, set[str]]:
    """What the writer and the auditor may do on ``table`` (the owner owns it)."""
    writer = {"SELECT", "INSERT"} if table != "alembic_version" else {"SELECT"}
    if table in WORKER_TABLES:
        writer.add("UPDATE")
    return {names.writer: writer, names.auditor: set() if table in SECRET_TABLES else {"SELECT"}}


def apply_roles(
    conn: Connection, names: RoleNames, passwords: dict[str, str] | None = None
) -> list[str]:
    """Make the roles and privileges what the module says; returns the changes made.

    Run by an administrator (a superuser, or a role that may create roles and owns the
    ledger's objects), in the caller's transaction. An empty list: nothing needed changing.
    """
    if conn.dialect.name != "postgresql":
        raise NotPostgres()
    names.check()
    passwords = passwords or {}
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    present = set(
        conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}
        ).scalars()
    )
    if "alembic_version" not in present:
        raise LedgerNotInitialised(
            f"schema {schema!r} has no ledger: run `flexledger init` before `flexledger roles`"
        )
    changes: list[str] = []
    me = conn.execute(text("SELECT current_user")).scalar_one()
    for role in (names.owner, names.writer, names.auditor):
        if role == me:
            raise BadInput("roles", f"{role!r} is the role running this command: name another")
        changes += _ensure_role(conn, role, passwords.get(role))
    changes += _memberships(conn, names)
    tables = sorted(present & set(ledger_tables()))
    changes += _ownership(conn, names.owner, schema, tables)
    changes += _schema_privileges(conn, names, schema)
    for table in tables:
        for role, wanted in wanted_privileges(names, table).items():
            changes += _table_privileges(conn, schema, table, role, wanted)
    changes += _sequence_privileges(conn, names, schema)
    return changes


def _ensure_role(conn: Connection, role: str, password: str | None) -> list[str]:
    found = (
        conn.execute(
            text(
                "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, "
                "rolbypassrls FROM pg_roles WHERE rolname = :r"
            ),
            {"r": role},
        )
        .mappings()
        .first()
    )
    changes: list[str] = []
    if found is None:
        conn.exec_driver_sql(f"CREATE ROLE {_quote(role)} LOGIN")
        changes.append(f"created role {role}")
    else:
        if found["rolsuper"]:
            raise BadInput(
                "roles", f"{role!r} is a superuser: a ledger role must be an ordinary one"
            )
        wrong = [f"NO{word}" for column, word in ATTRIBUTES.items() if found[column]]
        if not found["rolcanlogin"]:
            wrong.append("LOGIN")
        if wrong:
            conn.exec_driver_sql(f"ALTER ROLE {_quote(role)} {' '.join(wrong)}")
            changes.append(f"role {role}: {' '.join(wrong)}")
    if password is not None and not _password_is(conn, role, password):
        # A verifier, never the password: nothing the server logs can reveal it.
        conn.exec_driver_sql(f"ALTER ROLE {_quote(role)} PASSWORD '{scram_verifier(password)}'")
        changes.append(f"role {role}: password set")
    return changes


def _password_is(conn: Connection, role: str, password: str) -> bool:
    """Whether ``role``'s stored verifier is for ``password`` (False if it cannot be read)."""
    readable = conn.execute(text("SELECT has_table_privilege('pg_authid', 'SELECT')")).scalar_one()
    if not readable:
        return False
    stored = conn.execute(
        text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"), {"r": role}
    ).scalar()
    return _verifier_matches(stored, password)


def _memberships(conn: Connection, names: RoleNames) -> list[str]:
    """Neither the writer nor the auditor may be a member of another ledger role (a member
    of the owner would inherit what the owner may do)."""
    changes = []
    for member in (names.writer, names.auditor):
        for group in (names.owner, names.writer, names.auditor):
            if group == member:
                continue
            direct = conn.execute(
                text(
                    "SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                    "JOIN pg_roles r ON r.oid = m.member WHERE g.rolname = :g AND r.rolname = :r"
                ),
                {"g": group, "r": member},
            ).first()
            if direct:
                conn.exec_driver_sql(f"REVOKE {_quote(group)} FROM {_quote(member)}")
                changes.append(f"revoked membership of {member} in {group}")
    return changes


def _ownership(conn: Connection, owner: str, schema: str, tables: list[str]) -> list[str]:
    changes = []
    owners = dict(
        conn.execute(
            text(
                "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND c.relkind IN ('r', 'p')"
            ),
            {"s": schema},
        ).all()
    )
    for table in tables:
        if owners.get(table) != owner:
            # Sequences owned by the table's columns follow it.
            conn.exec_driver_sql(
                f"ALTER TABLE {_quote(schema)}.{_quote(table)} OWNER TO {_quote(owner)}"
            )
            changes.append(f"table {table}: owner {owner}")
    functions = conn.execute(
        text(
            "SELECT p.oid::regprocedure::text, pg_get_userbyid(p.proowner) FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = :s AND p.proname LIKE 'ledger\\_%'"
        ),
        {"s": schema},
    ).all()
    for signature, current in functions:
        if current != owner:
            conn.exec_driver_sql(f"ALTER FUNCTION {signature} OWNER TO {_quote(owner)}")
            changes.append(f"function {signature}: owner {owner}")
    return changes


def _acl(conn: Connection, kind: str, schema: str, name: str | None, role: str) -> set[str]:
    """The privileges granted directly to ``role`` on a schema, a table or a sequence."""
    if kind == "schema":
        query = (
            "SELECT a.privilege_type FROM pg_namespace n, aclexplode(n.nspacl) a "
            "WHERE n.nspname = :s AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = :r)"
        )
    else:
        query = (
            "SELECT a.privilege_type FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace, aclexplode(c.relacl) a "
            "WHERE n.nspname = :s AND c.relname = :t "
            "AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = :r)"
        )
    rows = conn.execute(text(query), {"s": schema, "t": name, "r": role}).scalars()
    return set(rows)


def _schema_privileges(conn: Connection, names: RoleNames, schema: str) -> list[str]:
    schema_owner = conn.execute(
        text("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = :s"),
        {"s": schema},
    ).scalar_one()
    wanted = {
        names.writer: {"USAGE"},
        names.auditor: {"USAGE"},
    }
    if schema_owner != names.owner:
        wanted[names.owner] = {"USAGE", "CREATE"}
    changes = []
    for role, privileges in wanted.items():
        have = _acl(conn, "schema", schema, None, role)
        target = f"SCHEMA {_quote(schema)}"
        changes += _grant_revoke(
            conn, target, f"schema {schema}", role, privileges, have, {"USAGE", "CREATE"}
        )
    return changes


def _table_privileges(
    conn: Connection, schema: str, table: str, role: str, wanted: set[str]
) -> list[str]:
    have = _acl(conn, "table", schema, table, role)
    target = f"TABLE {_quote(schema)}.{_quote(table)}"
    return _grant_revoke(
        conn, target, f"table {table}", role, wanted, have, set(TABLE_PRIVILEGES) | have
    )


def _sequence_privileges(conn: Connection, names: RoleNames, schema: str) -> list[str]:
    sequences = (
        conn.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND c.relkind = 'S' ORDER BY c.relname"
            ),
            {"s": schema},
        )
        .scalars()
        .all()
    )
    changes = []
    for sequence in sequences:
        target = f"SEQUENCE {_quote(schema)}.{_quote(sequence)}"
        for role, wanted in ((names.writer, {"USAGE"}), (names.auditor, set())):
            have = _acl(conn, "sequence", schema, sequence, role)
            changes += _grant_revoke(
                conn,
                target,
                f"sequence {sequence}",
                role,
                wanted,
                have,
                {"USAGE", "SELECT", "UPDATE"} | have,
            )
    return changes


def _grant_revoke(
    conn: Connection,
    target: str,
    label: str,
    role: str,
    wanted: set[str],
    have: set[str],
    known: set[str],
) -> list[str]:
    changes = []
    missing = sorted(wanted - have)
    extra = sorted((have & known) - wanted)
    if missing:
        conn.exec_driver_sql(f"GRANT {', '.join(missing)} ON {target} TO {_quote(role)}")
        changes.append(f"{label}: granted {', '.join(missing)} to {role}")
    if extra:
        conn.exec_driver_sql(f"REVOKE {', '.join(extra)} ON {target} FROM {_quote(role)}")
        changes.append(f"{label}: revoked {', '.join(extra)} from {role}")
    return changes
