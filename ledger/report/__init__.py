"""``flexledger report``: PNG plots and one HTML page over whatever the ledger holds.

``figures`` reads what to show from the ledger; ``page`` draws it.
"""
