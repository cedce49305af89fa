"""``flexledger compare``: which way of paying is the most cost-effective for one person.

``scenario`` (the assumptions, with sources), ``projected`` (the policy past its last
year), ``projection`` (one way, by the ledger's rules), ``measures`` (payback, IRR,
survival, present values), ``ways`` (the ways open, the best) are pure; ``history`` reads
a member's history from the ledger and ``plot`` draws: the edges.
"""
