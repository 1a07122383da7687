"""The append-only, hash-chained audit log (操作履歴)."""
