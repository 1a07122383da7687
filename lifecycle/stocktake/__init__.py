"""棚卸 (stocktake) by scanning: planned per department, scanned with a keyboard-wedge reader (or a
pasted list), reconciled against the ledger on closing; what was expected and not found becomes
所在不明 until it is found again or written off by another security manager."""
