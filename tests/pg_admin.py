"""Creating and dropping the throw-away PostgreSQL databases of tests and benchmarks.

Both statements can be refused for a moment by the server's own work: CREATE DATABASE while
another session still sits on template1, DROP ... WITH (FORCE) while a backend it must end is not
yet gone. Each is tried a few times before the refusal is passed on.
"""

from __future__ import annotations

import time

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

ATTEMPTS = 5


def _execute(admin: Engine, statement: str) -> None:
    for attempt in range(ATTEMPTS):
        try:
            with admin.connect() as connection:
                connection.execute(text(statement))
            return
        except DBAPIError:
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def create_database(admin: Engine, name: str) -> None:
    """CREATE DATABASE on an AUTOCOMMIT engine (it cannot run inside a transaction block)."""
    _execute(admin, f'CREATE DATABASE "{name}"')


def drop_database(admin: Engine, name: str) -> None:
    """DROP DATABASE ... WITH (FORCE): PostgreSQL 13+ closes connections still held on it."""
    _execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
