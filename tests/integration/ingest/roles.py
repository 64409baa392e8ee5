"""A login role that is not a superuser, for the tests of migrating as an application role."""

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql


def as_role(url: str, role: str, password: str) -> str:
    """``url`` with another user and password."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{quote(role, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


@contextmanager
def non_superuser(database_url: str, *, owner: bool) -> Iterator[str]:
    """The URL of ``database_url``'s database as a new login role without superuser, made the
    database's owner when ``owner`` (a typical application role); dropped afterwards."""
    role, password = f"ct_role_{uuid.uuid4().hex[:10]}", secrets.token_hex(12)
    database = sql.Identifier(urlsplit(database_url).path.lstrip("/"))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        if owner:
            conn.execute(
                sql.SQL("ALTER DATABASE {} OWNER TO {}").format(database, sql.Identifier(role))
            )
    try:
        yield as_role(database_url, role, password)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            if owner:
                conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(database))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def is_superuser(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    return bool(row and row[0])


@contextmanager
def owned_database(server_url: str) -> Iterator[str]:
    """A new database owned by a new login role without superuser: its URL as that role. The
    database is dropped before the role, so nothing the role created there must be dropped
    object by object (TimescaleDB's jobs and catalogs included)."""
    role, password = f"ct_role_{uuid.uuid4().hex[:10]}", secrets.token_hex(12)
    name = f"ct_owned_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(role)
            )
        )
    try:
        url = urlunsplit(urlsplit(server_url)._replace(path="/" + quote(name, safe="")))
        yield as_role(url, role, password)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
