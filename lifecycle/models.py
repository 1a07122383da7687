"""Imports every model module so that the metadata (migrations, tests) sees all tables."""
import importlib

from .db import Base

#: One entry per domain package that has models.
MODEL_MODULES = ("audit.models", "auth.models", "files", "scheduler_models", "policy.models", "items.models", "mynumber.models", "destruction.models", "devices.models", "custody.models", "contractors.models", "notifications.models", "people.models", "findings.models", "selfinspection.models", "terminals.models", "logreview.models", "stocktake.models", "labels.models")

for _name in MODEL_MODULES:
    importlib.import_module(f"lifecycle.{_name}")

metadata = Base.metadata
