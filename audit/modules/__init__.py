"""Independent audit modules: each reads the audit context and returns plain records."""
