"""The shipped conformance suites: ordinary pytest modules, collected by ``pytest --authcheck``."""
