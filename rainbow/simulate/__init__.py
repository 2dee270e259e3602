"""Replay a workload onto clusters with the real scheduling engine and a virtual clock."""

from rainbow.simulate.simulator import Outcome, SimJob, Simulation

__all__ = ["Outcome", "SimJob", "Simulation"]
