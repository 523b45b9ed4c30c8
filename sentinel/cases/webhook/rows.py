"""`webhook_deliveries` (revision 0010): one row per case change to send, written in the transaction of the
change itself, so a change that is committed is also sent, even after a kill -9.

A row is due while `delivered_at` and `gave_up_at` are both unset and `next_attempt_at` has passed. `key` is
the delivery's id for the receiver (`Idempotency-Key`): the same on every retry, so a receiver can drop a
repeat it already has. `last_error` says what went wrong in words (a status or a network error), never a
header or the secret.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sentinel.cases.models import UTCDateTime
from sentinel.storage.db import Base


class WebhookDeliveryRow(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "delivered_at", "gave_up_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # send order
    key: Mapped[str] = mapped_column(String(36), unique=True)  # a UUID: the Idempotency-Key
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    change: Mapped[str] = mapped_column(String(16))  # dispatch / reminder / escalate / close / ...
    payload: Mapped[str] = mapped_column(Text)  # the JSON body, exactly as posted (and signed)
    recipient_id: Mapped[str | None] = mapped_column(String(64))  # the roster id of who holds the case
    contact: Mapped[str | None] = mapped_column(String(64))  # their phone, from the roster
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    gave_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
