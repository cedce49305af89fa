"""flexledger: an append-only contribution ledger for China's flexible-employment social insurance.

The package is layered: a pure domain at the centre (money, identity, policy, rules,
events, journal) that imports only the standard library and pydantic, and storage,
workers and the command line at the edge.
"""

__version__ = "0.1.0"
