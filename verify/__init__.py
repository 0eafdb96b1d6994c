"""The verify toolkit: `python -m verify all --stack NAME` proves a deployed stack works.

Library use (what the CLI does): load the outputs, pick checks, run them, read the report.

    from verify.outputs import load_file
    from verify.suite import run_checks, select_checks
    from verify.context import RunOptions

    outputs = load_file(path)
    report = run_checks(outputs, select_checks(outputs, "all"), RunOptions(invoke=False))
"""
