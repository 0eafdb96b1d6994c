"""bench/publisher.py takes its worker types, labels and metrics from the settings data (issue
10): no worker type is named in its code."""

import re

from stack_settings.stack_files import ROOT, stack_config


def test_the_publisher_benchmark_names_no_worker_type():
    names = re.findall(r"[a-z0-9]+", stack_config("prod-asg")["academy-workers:workerTypes"])
    source = (ROOT / "bench" / "publisher.py").read_text()
    for name in names:
        label = name.capitalize()
        for literal in (f'"{name}"', f"'{name}'", f'"{label}"', f'"{name.upper()}"'):
            assert literal not in source, literal
