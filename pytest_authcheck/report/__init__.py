"""Writers of the run's results: terminal summary, JSON, HTML (through pytest-html)."""
