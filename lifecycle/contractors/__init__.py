"""Contractors (委託先): lessors, erasure vendors, pulping and transport contractors, with their
contracts and required clauses, 誓約書, approved re-subcontractors and 実地確認 records; and the
one rule that a contractor's contract covers a piece of work on a date (services.require_coverage)."""
