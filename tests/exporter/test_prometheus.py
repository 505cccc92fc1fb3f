"""A real Prometheus scrapes the exporter and sees the simulated state."""

from __future__ import annotations

from paas_sdk.testing.servers.prometheus import PrometheusServer
from paas_sdk.testing.simulators import HarborSimulator, JenkinsSimulator
from tests.exporter.conftest import harbor_target, jenkins_target, running_exporter


def test_prometheus_scrapes_the_exporter(
    prometheus: PrometheusServer, harbor: HarborSimulator, jenkins: JenkinsSimulator
) -> None:
    broken = {"name": "broken", "kind": "spinnaker", "url": "http://127.0.0.1:9", "timeout": 1}
    with running_exporter([harbor_target(harbor), jenkins_target(jenkins), broken]) as exporter:
        prometheus.scrape("paas-exporter", [f"127.0.0.1:{exporter.server.port}"])
        prometheus.wait_for_targets_up("paas-exporter", 1)
        up = {
            r["metric"]["target"]: r["value"][1]
            for r in prometheus.query("paas_exporter_target_up")
        }
        projects = prometheus.query('sum(harbor_project_total{job="paas-exporter"})')
        offline = prometheus.query('jenkins_nodes_offline{job="paas-exporter"}')
        jobs = prometheus.query('count(jenkins_job_last_build_number{job="paas-exporter"})')
        prometheus.scrape("paas-exporter", [])
    assert up == {"harbor": "1", "jenkins": "1", "broken": "0"}
    assert float(projects[0]["value"][1]) == len(harbor.state.projects)
    assert float(offline[0]["value"][1]) == sum(1 for c in jenkins.state.computers if c["offline"])
    built = [j for j in jenkins.state.iter_jobs() if j["lastBuild"] is not None]
    assert float(jobs[0]["value"][1]) == len(built)
