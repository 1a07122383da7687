"""The vendor's erasure certificate for a leased device, with what NIST SP 800-88 asks of one."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Date, DateTime, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import User
from ..db import Base
from ..files import StoredFile
from ..items.models import DeviceMedium, Item
from ..states import Kind




#: The media a certificate says it covers.
certificate_media = Table(
    "erasure_certificate_media", Base.metadata,
    Column("certificate_id", ForeignKey("erasure_certificates.id"), primary_key=True),
    Column("medium_id", ForeignKey("device_media.id"), primary_key=True),
)


class ErasureCertificate(Base):
    """One submitted certificate. A rejected one stays (history); the device waits for another.
    Make, model and serial number are the device's own (Item)."""
    __tablename__ = "erasure_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    status: Mapped[str] = mapped_column(String(32))
    vendor: Mapped[str] = mapped_column(String(200))  #: the erasing contractor (委託業者)
    certificate_no: Mapped[str] = mapped_column(String(100))
    method: Mapped[str] = mapped_column(String(16))  #: NIST SP 800-88: clear / purge / destroy
    tool: Mapped[str] = mapped_column(String(200))  #: erasure software or device
    tool_version: Mapped[str | None] = mapped_column(String(100))
    verification: Mapped[str] = mapped_column(String(500))  #: how the result was verified
    verification_result: Mapped[str | None] = mapped_column(String(200))
    performed_on: Mapped[date] = mapped_column(Date)
    operator: Mapped[str | None] = mapped_column(String(100))  #: the vendor's person who erased
    media_type: Mapped[str | None] = mapped_column(String(100))  #: HDD / SSD / フラッシュメモリ …
    #: NIST SP 800-88 Rev.1 App. G: the technique (overwrite / block_erase / crypto_erase / degauss /
    #: physical); `method` above is the level (clear / purge / destroy). Null on older certificates.
    method_used: Mapped[str | None] = mapped_column(String(16))
    operator_title: Mapped[str | None] = mapped_column(String(100))  #: performed by: title
    operator_organisation: Mapped[str | None] = mapped_column(String(200))  #: performed by: organisation
    destination: Mapped[str | None] = mapped_column(String(200))  #: where the media went afterwards
    contractor_id: Mapped[int | None] = mapped_column(ForeignKey("contractors.id"))
    #: JSON lists found at upload, shown to the validator and recorded with the acceptance.
    serials_missing_from_pdf: Mapped[str | None] = mapped_column(Text)
    serials_unknown_to_device: Mapped[str | None] = mapped_column(Text)
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))  #: the checking security manager
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    reject_reason: Mapped[str | None] = mapped_column(String(500))

    item: Mapped[Item] = relationship(lazy="joined")
    file: Mapped[StoredFile] = relationship(lazy="joined")
    decider: Mapped[User | None] = relationship(foreign_keys=[decided_by_id], lazy="joined")
    uploader: Mapped[User | None] = relationship(foreign_keys=[uploaded_by_id], lazy="joined")
    contractor: Mapped["Contractor | None"] = relationship("Contractor", lazy="joined")
    media: Mapped[list[DeviceMedium]] = relationship(secondary=certificate_media, lazy="selectin",
                                                    order_by=DeviceMedium.position)

    __table_args__ = (Index("ix_erasure_certificates_item", "item_id"),
                      Index("ix_erasure_certificates_status", "status"))

    @property
    def state_kind(self) -> Kind:
        return Kind.ERASURE_CERTIFICATE

    @property
    def audit_subject(self) -> str:
        return f"erasure-certificate:{self.id}"
