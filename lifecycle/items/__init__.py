"""Items of the ledger (管理簿): 帳票 (forms), 媒体 (bulk media) and リース機器 (leased devices)."""
