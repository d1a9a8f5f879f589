"""The floor: the least a create endpoint can do on this stack, to measure the service against.

Bare Flask and one raw PyMySQL connection per worker thread (so one per worker with
gunicorn's sync workers): no validation, metrics, logging, ORM or pool. It writes the
same row to the same table as ``POST /v1/create`` and answers with the same fields.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import pymysql
from flask import Flask, request
from sqlalchemy.engine import make_url

from messaging.clock import utc_now
from messaging.ids import new_message_id

INSERT = (
    "INSERT INTO messages (message_id, account_id, sender_number, receiver_number,"
    " message_text, created_at) VALUES (%s, %s, %s, %s, %s, %s)"
)

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
