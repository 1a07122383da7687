"""Explicit, admin-editable policies: retention periods, minimum destruction levels, switches."""
