"""The FastAPI peer: the routes the benchmark loads, written as FastAPI's documentation teaches
(a session per request through a dependency, pydantic response models, SQLAlchemy ORM).

Run by the harness as ``uvicorn bench.fastapi_peer.main:app --workers 4``, in its own virtual
environment (requirements.txt here), on the service's database.
"""

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import models, schemas
from .database import get_db

SessionDep = Annotated[Session, Depends(get_db)]

app = FastAPI(title="messaging, FastAPI peer")


def comma_list(value: str | None) -> list[str]:
    return [item for item in (value or "").split(",") if item]


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/create", response_model=schemas.Message)
def create_message(message: schemas.MessageCreate, db: SessionDep) -> models.Message:
    db_message = models.Message(
        **message.model_dump(),
        message_id=str(uuid.uuid4()),
        created_at=datetime.now(UTC).replace(tzinfo=None),
    )
    db.add(db_message)
    db.commit()
    db.refresh(db_message)
    return db_message


@app.get("/v1/get/messages/{account_id}", response_model=list[schemas.Message])
def read_messages(account_id: int, db: SessionDep, limit: int = 100) -> list[models.Message]:
    query = (
        select(models.Message)
        .where(models.Message.account_id == account_id)
        .order_by(models.Message.id.desc())
        .limit(limit)
    )
    return list(db.scalars(query))


@app.get("/v1/search", response_model=list[schemas.Message])
def search_messages(
    db: SessionDep,
    message_id: str | None = None,
    sender_number: str | None = None,
    receiver_number: str | None = None,
    limit: int = 100,
) -> list[models.Message]:
    query = select(models.Message)
    for column, value in (
        (models.Message.message_id, message_id),
        (models.Message.sender_number, sender_number),
        (models.Message.receiver_number, receiver_number),
    ):
        if values := comma_list(value):
            query = query.where(column.in_(values))
    return list(db.scalars(query.order_by(models.Message.id.desc()).limit(limit)))
