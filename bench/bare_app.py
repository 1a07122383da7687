"""The baseline of the load benchmark: a bare Flask page that reads one SQLite row."""
import sqlite3
import sys

from flask import Flask
from waitress import serve

DB = sys.argv[1]
app = Flask(__name__)


@app.route("/row")
def row():
    connection = sqlite3.connect(DB)
    value = connection.execute("SELECT code, title FROM items WHERE id = 1").fetchone()
    connection.close()
    return {"code": value[0], "title": value[1]}


if __name__ == "__main__":
    serve(app, host="127.0.0.1", port=int(sys.argv[2]), threads=int(sys.argv[3]), _quiet=True)
