"""flexledger: an append-only contribution ledger for China's flexible-employment social insurance.

The layers, each importing only those below it (tests/unit/test_layers.py holds them):

- ``ledger.domain``: money, periods, identity, members, policy, rules, keys and the
  journal's canonical text; pure, no I/O;
- ``ledger.store``: tables, the recorder, fact loaders, balances, verification;
- ``ledger.operations``: the use cases, each loading facts, deciding and appending;
- ``workers``: actors, runtime, schedules (each actor one call into the use cases);
- entry points: ``ledger.cli``, ``ledger.api``, ``ledger.simulate``, ``ledger.compare``,
  ``ledger.report``.
"""

__version__ = "0.1.0"
