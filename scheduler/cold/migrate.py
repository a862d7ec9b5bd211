"""Apply the numbered `.sql` files in `migrations/` once each, in order.

Each applied file is recorded in `schema_migrations` with its sha256, so a file edited
after it ran is refused instead of silently diverging from what the database holds.
ClickHouse has no transactional DDL, so every statement in a migration must be safe to
run twice (IF NOT EXISTS, ADD COLUMN IF NOT EXISTS, ...): a crash halfway through a
file is repaired by running `migrate` again.

The one value that comes from settings rather than from a file is the execution
history TTL: migrate() sets it with ALTER TABLE ... MODIFY TTL when it differs, and
check_migrations() reports a difference as pending work.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from scheduler.cold.clickhouse import ClickHouse
from scheduler.errors import MigrationChecksumMismatch, MigrationError, PendingMigrations

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_BOOTSTRAP = MIGRATIONS_DIR / "schema_migrations.sql"
_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# One token of SQL that may contain a ';' that does not end a statement.
_TOKEN = re.compile(
    r"--[^\n]*|/\*.*?\*/"  # comments
    r"|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\""  # strings, quoted names
    r"|;|[^-/'`\";]+|.",
    re.S,
)
_TTL_DAYS = re.compile(r"\bTTL\b.*?toIntervalDay\((?:_CAST\()?(\d+)")
RESULTS_TABLE = "schedule_execution_results"


@dataclass(frozen=True)
class Migration:
    name: str  # the file name without .sql, e.g. "0001_event_schedules"
    sql: str
    checksum: str

    @property
    def statements(self) -> list[str]:
        return split_statements(self.sql)


def split_statements(sql: str) -> list[str]:
    """Split a file on top-level ';' (not inside strings, quoted names or comments)."""
    statements: list[str] = []
    current: list[str] = []
    for token in _TOKEN.findall(sql):
        if token == ";":
            statements.append("".join(current))
            current = []
        else:
            current.append(token)
    statements.append("".join(current))
    return [s.strip() for s in statements if _has_code(s)]


def _has_code(statement: str) -> bool:
    return any(
        not t.isspace() and not t.startswith(("--", "/*")) for t in _TOKEN.findall(statement)
    )


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every numbered migration file in `directory`, in order."""
    found = sorted(p for p in directory.glob("*.sql") if _FILE_NAME.match(p.name))
    numbers = [_FILE_NAME.match(p.name).group(1) for p in found]  # type: ignore[union-attr]
    if len(set(numbers)) != len(numbers):
        raise MigrationError(f"two migration files share a number in {directory}")
    return [
        Migration(p.stem, text, hashlib.sha256(text.encode()).hexdigest())
        for p in found
        for text in [p.read_text(encoding="utf-8")]
    ]


async def applied_migrations(ch: ClickHouse) -> dict[str, str]:
    """Name -> checksum of every migration recorded as applied."""
    exists = await ch.query(
        "SELECT 1 FROM system.tables WHERE database = currentDatabase()"
        " AND name = 'schema_migrations'"
    )
    if not exists:
        return {}
    rows = await ch.query_rows("SELECT name, checksum FROM schema_migrations FINAL")
    return {name: checksum for name, checksum in rows.rows}


def _changed(migrations: list[Migration], applied: dict[str, str]) -> list[str]:
    return [m.name for m in migrations if m.name in applied and applied[m.name] != m.checksum]


async def migrate(
    ch: ClickHouse,
    *,
    execution_history_ttl_days: int | None = None,
    directory: Path = MIGRATIONS_DIR,
) -> list[str]:
    """Apply pending migrations in order; return what was done (empty if nothing)."""
    migrations = load_migrations(directory)
    applied = await applied_migrations(ch)
    if changed := _changed(migrations, applied):
        raise MigrationChecksumMismatch(
            f"applied migration files were changed since: {', '.join(changed)} "
            "(restore them and add a new migration instead)"
        )
    for statement in split_statements(_BOOTSTRAP.read_text(encoding="utf-8")):
        await ch.command(statement)
    done = []
    for migration in migrations:
        if migration.name in applied:
            continue
        for statement in migration.statements:
            await ch.command(statement)
        await ch.insert(
            "schema_migrations", [(migration.name, migration.checksum)], ("name", "checksum")
        )
        done.append(migration.name)
    if execution_history_ttl_days is not None:
        current = await execution_history_ttl(ch)
        if current != execution_history_ttl_days:
            # A validated int, so formatting it into DDL is safe; it also keeps the
            # table's TTL readable as toIntervalDay(N) for the next comparison.
            days = int(execution_history_ttl_days)
            await ch.command(
                f"ALTER TABLE {RESULTS_TABLE} MODIFY TTL executed_at + INTERVAL {days} DAY DELETE"
            )
            done.append(f"{RESULTS_TABLE} TTL {current} -> {days} days")
    return done


async def execution_history_ttl(ch: ClickHouse) -> int | None:
    """The TTL in days of schedule_execution_results, or None if it has none (yet)."""
    rows = await ch.query_rows(
        "SELECT engine_full FROM system.tables WHERE database = currentDatabase()"
        " AND name = {table:String}",
        {"table": RESULTS_TABLE},
    )
    match = _TTL_DAYS.search(rows.rows[0][0]) if rows.rows else None
    return int(match.group(1)) if match else None


async def check_migrations(
    ch: ClickHouse,
    *,
    execution_history_ttl_days: int | None = None,
    directory: Path = MIGRATIONS_DIR,
) -> None:
    """Raise if the database is not exactly at the schema of the migration files."""
    migrations = load_migrations(directory)
    applied = await applied_migrations(ch)
    if changed := _changed(migrations, applied):
        raise MigrationChecksumMismatch(
            f"applied migration files were changed since: {', '.join(changed)}"
        )
    pending = [m.name for m in migrations if m.name not in applied]
    if not pending and execution_history_ttl_days is not None:
        current = await execution_history_ttl(ch)
        if current != execution_history_ttl_days:
            pending.append(f"{RESULTS_TABLE} TTL {current} -> {execution_history_ttl_days} days")
    if pending:
        raise PendingMigrations(
            f"ClickHouse database {ch.database!r} has pending migrations: {', '.join(pending)}"
            " (run `hybrid-scheduler migrate`)"
        )
