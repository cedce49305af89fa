"""Dated regional parameters, loaded from the TOML files in ``data/``.

Two time axes: a record is *in force* from its ``effective`` date and *known* from its
``published`` date. ``PolicySet.at(path, on, region, known_at)`` answers "which figure
applied on ``on``, as the ledger could have known it at ``known_at``": among the records
effective by ``on`` and published by ``known_at``, the one with the latest effective date,
and among those the latest published (a provisional rate superseded by the official one,
a base corrected after publication).

A region file overrides the national file path by path: if a region gives any record for
a path, only the region's records answer for it.
"""

from ledger.domain.policy.loader import PolicySet, Region, default_policy, load_policy

__all__ = ["PolicySet", "Region", "default_policy", "load_policy"]
