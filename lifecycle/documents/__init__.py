"""The documents people file and read back: PDF and CSV layout, the imprint of the audit chain
on every page, and the document signature. No domain knowledge: the domains hand in what to print."""
