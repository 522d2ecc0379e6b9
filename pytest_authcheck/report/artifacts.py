"""Writes every artifact of a run at its end (controller only), then the manifest over all of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from .._run import AuthcheckRun
from . import html, json_report, manifest, markdown, sarif
from .junit import add_suite_properties


def write_all(run: AuthcheckRun, config: pytest.Config) -> list[Path]:
    """The findings' data into the HTML, then JSON, SARIF, Markdown, JUnit suite properties, and the manifest of those
    and the HTML."""
    Path(run.reports_dir).mkdir(parents=True, exist_ok=True)
    if run.html_path is not None:
        html.complete(run)  # first: the page is on disk already, and a writer failing later must not leave it without them
    written = [json_report.write(run),
               sarif.write(run, sarif.repo_root(Path(str(config.invocation_params.dir)))),
               markdown.write(run)]
    if run.html_path is not None:
        written.append(Path(run.html_path))
    xml_path = getattr(config.option, "xmlpath", None)
    if xml_path and add_suite_properties(Path(xml_path), run):
        written.append(Path(xml_path))
    return [*written, *manifest.write(run, written)]
