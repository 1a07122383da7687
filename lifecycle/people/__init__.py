"""People: 異動 and leavers, the two-admin approval of bulk_operator, the yearly rights review."""
