"""The domain: money, periods, identity, members, policy, rules, keys and the journal's
canonical text. Pure: it imports the standard library, pydantic and itself, no
SQLAlchemy, no workers (tests/unit/test_layers.py holds it to that)."""
