"""Renderers: views of a finished AuditResult. They format; they never compute metrics."""
