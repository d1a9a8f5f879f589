"""The floor: the least each measured endpoint can do on this stack, to measure the service by.

Bare Flask and one raw PyMySQL connection per worker thread (so one per worker with
gunicorn's sync workers): no validation, metrics, logging, ORM or pool. Create writes the
same row to the same table as ``POST /v1/create`` and answers with the same fields. List and
search send the queries of the service's list and search (one page and one row more, newest
first; a search by several numbers as one branch per number along its ``(number, id)`` index,
merged by id), reading only the columns a response shows, and answer ``jsonify`` of the rows
as dicts, with the ``Link`` header of a next page.
"""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import urlencode

import pymysql
from flask import Flask, Response, jsonify, request
from sqlalchemy.engine import make_url

from messaging.clock import utc_now
from messaging.ids import new_message_id
from messaging.pagination import encode_cursor

INSERT = (
    "INSERT INTO messages (message_id, account_id, sender_number, receiver_number,"
    " message_text, created_at) VALUES (%s, %s, %s, %s, %s, %s)"
)

PAGE_SIZE = 100
COLUMNS = (
    "id",
    "message_id",
    "account_id",
    "sender_number",
    "receiver_number",
    "message_text",
    "created_at",
)
SELECT = f"SELECT {', '.join(COLUMNS)} FROM messages"
LIST = f"{SELECT} WHERE account_id = %s ORDER BY id DESC LIMIT %s"
SEARCH_BRANCH = "(SELECT id FROM messages WHERE sender_number = %s ORDER BY id DESC LIMIT %s)"

app = Flask(__name__)
_local = threading.local()


def connection() -> pymysql.Connection:
    if getattr(_local, "connection", None) is None:
        url = make_url(os.environ["DATABASE_URL"])
        _local.connection = pymysql.connect(
            host=url.host,
            port=url.port or 3306,
            user=url.username,
            password=url.password or "",
            database=url.database,
            charset="utf8mb4",
        )
    return _local.connection


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/create")
def create() -> dict[str, Any]:
    body = request.get_json()
    message_id, created_at = new_message_id(), utc_now()
    database = connection()
    with database.cursor() as cursor:
        cursor.execute(
            INSERT,
            (
                message_id,
                body["account_id"],
                body["sender_number"],
                body["receiver_number"],
                body.get("message_text"),
                created_at,
            ),
        )
    database.commit()
    return {
        "message_id": message_id,
        "account_id": body["account_id"],
        "sender_number": body["sender_number"],
        "receiver_number": body["receiver_number"],
        "message_text": body.get("message_text"),
        "created_at": created_at.isoformat() + "+00:00",
    }


@app.post("/v1/create/batch")
def create_batch() -> Response:
    """The batch create's floor: the rows of ``POST /v1/create/batch`` in one transaction,
    sent by PyMySQL's executemany as multi-row INSERTs, answered with the same fields."""
    created_at = utc_now()
    rows = [
        (
            new_message_id(),
            item["account_id"],
            item["sender_number"],
            item["receiver_number"],
            item.get("message_text"),
            created_at,
        )
        for item in request.get_json()["messages"]
    ]
    database = connection()
    with database.cursor() as cursor:
        cursor.executemany(INSERT, rows)
    database.commit()
    stamp = created_at.isoformat() + "+00:00"
    fields = COLUMNS[1:-1]  # the response's, but created_at
    return jsonify([dict(zip(fields, row[:-1], strict=True), created_at=stamp) for row in rows])


def search_sql(numbers: int) -> str:
    """The newest rows of any of ``numbers`` sender numbers: the service's search shape."""
    branches = " UNION ALL ".join([SEARCH_BRANCH] * numbers)
    return (
        f"{SELECT} JOIN (SELECT id FROM ({branches}) AS merged ORDER BY id DESC LIMIT %s)"
        " AS newest USING (id) ORDER BY id DESC"
    )


def page(sql: str, parameters: tuple[Any, ...]) -> Response:
    """``PAGE_SIZE`` rows as dicts and, when the query found one more, the next page's link."""
    database = connection()
    with database.cursor() as cursor:
        cursor.execute(sql, parameters)
        rows = cursor.fetchall()
    database.commit()
    messages = [
        {
            "message_id": row[1],
            "account_id": row[2],
            "sender_number": row[3],
            "receiver_number": row[4],
            "message_text": row[5],
            "created_at": row[6].isoformat() + "+00:00",
        }
        for row in rows[:PAGE_SIZE]
    ]
    response = jsonify(messages)
    if len(rows) > PAGE_SIZE:
        query = urlencode({**request.args, "cursor": encode_cursor(rows[PAGE_SIZE - 1][0])})
        response.headers["Link"] = f'<{request.base_url}?{query}>; rel="next"'
    return response


@app.get("/v1/get/messages/<int:account_id>")
def list_account_messages(account_id: int) -> Response:
    return page(LIST, (account_id, PAGE_SIZE + 1))


@app.get("/v1/search")
def search() -> Response:
    numbers = request.args["sender_number"].split(",")
    parameters = [value for number in numbers for value in (number, PAGE_SIZE + 1)]
    return page(search_sql(len(numbers)), (*parameters, PAGE_SIZE + 1))
