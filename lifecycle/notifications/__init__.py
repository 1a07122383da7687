"""What waits for people (the inbox, computed from the ledger) and the mail that tells them."""
