"""Persistence for todo-mcp: tables, the database, repositories and migrations.

This package imports nothing else of the project's.
"""
