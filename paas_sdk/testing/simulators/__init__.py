"""Harbor, Jenkins and Spinnaker simulators: real HTTP servers answering as the real APIs do.

Each one has size knobs (number of projects, jobs, applications) and `faults` knobs (latency,
5xx, hangs, malformed JSON, truncated bodies, wrong content type) that a test flips at run time.
`python -m paas_sdk.testing.simulators` runs all three until interrupted.
"""

from paas_sdk.testing.simulators._http import Faults, SimulatorServer
from paas_sdk.testing.simulators.harbor import HarborSimulator
from paas_sdk.testing.simulators.jenkins import JenkinsSimulator
from paas_sdk.testing.simulators.spinnaker import SpinnakerSimulator

__all__ = ["Faults", "HarborSimulator", "JenkinsSimulator", "SimulatorServer", "SpinnakerSimulator"]
