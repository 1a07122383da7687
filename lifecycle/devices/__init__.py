"""Leased devices (リース機器): lease reminders, erasure requests, vendors' erasure certificates
checked by a security manager, and the return to the lessor."""
