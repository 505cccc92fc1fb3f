"""Run the Harbor, Jenkins and Spinnaker simulators until interrupted (for demos and benchmarks)."""

from __future__ import annotations

import signal
import threading

import click

from paas_sdk._cli import CONTEXT_SETTINGS
from paas_sdk.testing.simulators.harbor import HarborSimulator
from paas_sdk.testing.simulators.jenkins import JenkinsSimulator
from paas_sdk.testing.simulators.spinnaker import SpinnakerSimulator


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--harbor-projects", default=20, show_default=True)
@click.option("--jenkins-jobs", default=200, show_default=True)
@click.option("--spinnaker-applications", default=5, show_default=True)
@click.option("--harbor-port", default=0, help="0 picks a free port")
@click.option("--jenkins-port", default=0)
@click.option("--spinnaker-port", default=0)
def main(  # noqa: PLR0917 - click passes every option as an argument
    harbor_projects: int,
    jenkins_jobs: int,
    spinnaker_applications: int,
    harbor_port: int,
    jenkins_port: int,
    spinnaker_port: int,
) -> None:
    """Serve simulated Harbor, Jenkins and Spinnaker on loopback; print their URLs and logins."""
    simulators = [
        HarborSimulator(projects=harbor_projects, port=harbor_port),
        JenkinsSimulator(jobs=jenkins_jobs, folders=10, depth=3, port=jenkins_port),
        SpinnakerSimulator(applications=spinnaker_applications, port=spinnaker_port),
    ]
    for simulator in simulators:
        simulator.start()
        # what an exporter config needs to reach it: its URL and, when it asks for them, the
        # credentials it accepts (a simulator's well-known defaults, not secrets)
        login = (
            f"  user={simulator.credentials[0]} password={simulator.credentials[1]}"
            if simulator.credentials
            else "  (no credentials)"
        )
        click.echo(f"{simulator.name} {simulator.url}{login}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for simulator in simulators:
            simulator.stop()


if __name__ == "__main__":
    main()
