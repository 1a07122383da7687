"""The audit log as people read it: every event in Japanese words (describe) and the pages of
the log, its verification and its export (views). The log itself is lifecycle.audit."""
