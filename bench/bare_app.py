"""The baseline of the load benchmark: a bare Flask page that reads one row (served by gunicorn
from bench/load.py). BARE_DB names the SQLite file, opened per request as the issue describes;
with BARE_PG (a PostgreSQL URL) instead, the row comes over one connection per worker, to show
what a database server on the same two cores costs even the smallest page."""
import os
import sqlite3

from flask import Flask

app = Flask(__name__)
_pg = None


@app.route("/row")
def row():
    global _pg
    if "BARE_PG" in os.environ:
        if _pg is None:
            import psycopg
            _pg = psycopg.connect(os.environ["BARE_PG"], autocommit=True)
        value = _pg.execute("SELECT code, title FROM bare_items WHERE id = 1").fetchone()
    else:
        connection = sqlite3.connect(os.environ["BARE_DB"])
        value = connection.execute("SELECT code, title FROM items WHERE id = 1").fetchone()
        connection.close()
    return {"code": value[0], "title": value[1]}
