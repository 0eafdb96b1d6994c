"""The docs a reader outside the team follows: no reference to files this repository lacks."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEXT_FILES = ("*.py", "*.md", "*.yaml", "*.yml", "*.sh", "*.template")


def project_files() -> list[Path]:
    skip = {".venv", ".git", ".academy", ".sandbox", "build", ".pytest_cache"}
    return [p for pattern in TEXT_FILES for p in ROOT.rglob(pattern)
            if not skip & set(p.relative_to(ROOT).parts)]


def test_every_markdown_file_a_file_names_is_in_the_repository() -> None:
    """A reader outside the team has only this repository: every markdown file another file cites
    (the incidents page, the contracts) must be one of the repository's own."""
    ours = {p.name for p in ROOT.rglob("*.md") if ".venv" not in p.parts}
    cited = {(str(p.relative_to(ROOT)), name) for p in project_files()
             for name in re.findall(r"\b([A-Za-z][\w-]*\.md)\b", p.read_text(errors="replace"))}
    missing = sorted(f"{where} cites {name}" for where, name in cited if name not in ours)
    assert missing == [], "cite docs/INCIDENTS.md or docs/CONTRACTS.md instead"


def test_every_markdown_link_to_a_repository_file_exists() -> None:
    missing = []
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if not (doc.parent / target).exists():
                missing.append(f"{doc.name} -> {target}")
    assert missing == []


def test_the_incidents_page_names_the_old_names_users_query() -> None:
    page = (ROOT / "docs" / "INCIDENTS.md").read_text()
    for old in ("QueueDepth WorkerType=Video", "VideoQueueDepthTotal", "AutoScalingGroupName",
                "video_queue_depth", "BacklogCount metric published", "video_asg",
                # the PowerShell era's (issue 15.20)
                "video_queue_depth_total", "BacklogCountTargetTracking", "VIDEO_BACKLOG_API_URL",
                "LAMBDA_INTERNAL_API_KEY", "METRIC_NAMESPACE", "METRIC_NAME",
                "VIDEO_SCALE_VISIBLE_ONLY", "MAX_BACKLOG_ADD", "SSM_STABLE_ZERO_PARAM",
                "academy-lambda", "/academy/workers/env", "-Rollback", "upload_env_to_ssm.ps1",
                "sync_api_env_lambda_internal.ps1", "full_redeploy.ps1"):
        assert old in page, old
    for number in range(1, 9):
        assert f"| {number} |" in page, f"incident #{number}"


def test_the_readme_says_to_activate_the_venv_where_commands_need_it() -> None:
    """Issue 15.17: after `make demo`, `python -m sandbox` and `python -m verify` need the
    project's venv; the sections that start using them say so."""
    readme = (ROOT / "README.md").read_text()
    for heading in ("## The sandbox", "## The verify toolkit"):
        section = readme[readme.index(heading):]
        section = section[:section.index("```sh")]
        assert ". .venv/bin/activate" in section, heading
