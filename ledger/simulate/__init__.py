"""Member payment histories, simulated through the ledger's own rules and recorder."""

from ledger.simulate.engine import Simulation
from ledger.simulate.result import Paid, SimulationResult
from ledger.simulate.scenario import Scenario

__all__ = ["Paid", "Scenario", "Simulation", "SimulationResult"]
