"""Pure calculations over dated policy: contributions, transfers, interest, pensions.

Nothing here does I/O: every function takes the ``PolicySet`` it reads and returns
immutable results in integer fen.
"""
