"""Dashboards and alert rules as code: build, lint, render and sync them (`paas-dash`)."""
