"""What the label page remembers for each person: the layout last printed with."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base


class LabelPreference(Base):
    """One row per person who has printed labels; the ledger and the item page preselect its layout."""
    __tablename__ = "label_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    layout: Mapped[str] = mapped_column(String(64))  #: a layout name (labels/<name>.json)
    updated_at: Mapped[datetime] = mapped_column(DateTime)  #: naive UTC
