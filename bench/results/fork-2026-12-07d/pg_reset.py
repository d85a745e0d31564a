"""A new, empty database "fork_audit" on the server at FORK_PG_ADMIN_URL, for one scenario."""

import os

import psycopg

with psycopg.connect(os.environ["FORK_PG_ADMIN_URL"], autocommit=True) as c:
    c.execute("DROP DATABASE IF EXISTS fork_audit WITH (FORCE)")
    c.execute("CREATE DATABASE fork_audit")
