"""Storage at the edge: SQLAlchemy tables, the append-only recorder, balance queries.

Storage imports the domain; the domain never imports storage.
"""
