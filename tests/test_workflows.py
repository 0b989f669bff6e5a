"""The GitHub workflows: valid against the GitHub workflow schema, and split so that pull-request code never runs with a write token."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from atc.settings import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
NAMES = ("pr-check.yml", "pr-comment.yml", "pages.yml")
PINNED = re.compile(r"^actions/[a-z-]+(?:/[a-z-]+)?@v\d+$")


def _checker() -> str | None:
    beside = Path(sys.executable).with_name("check-jsonschema")
    return str(beside) if beside.is_file() else shutil.which("check-jsonschema")


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def triggers(workflow: dict) -> dict:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as true


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    checker = _checker()
    if checker is None:
        pytest.skip("check-jsonschema is not installed (pip install -e '.[test]')")
    return subprocess.run([checker, "--builtin-schema", "vendor.github-workflows", str(path)], capture_output=True, text=True)


@pytest.mark.parametrize("name", NAMES)
def test_workflow_matches_the_github_schema(name):
    done = schema_check(WORKFLOWS / name)
    assert done.returncode == 0, done.stdout + done.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: pull_request\njobs:\n  check:\n    steps:\n      - run: true\n", encoding="utf-8")  # no runs-on
    assert schema_check(broken).returncode == 1


@pytest.mark.parametrize("name", NAMES)
def test_actions_are_pinned_to_a_major_version(name):
    uses = [step["uses"] for step in steps(load(name)) if "uses" in step]
    assert uses and all(PINNED.match(item) for item in uses), uses


def test_pull_request_check_runs_with_a_read_only_token():
    workflow = load("pr-check.yml")
    assert list(triggers(workflow)) == ["pull_request"]
    assert workflow["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in workflow["jobs"].values())
    runs = "\n".join(step.get("run", "") for step in steps(workflow))
    for command in (
        "atc check --strict",
        'atc diff "$BASE"',
        'atc build --only-changed "$BASE"',
        "pip install -r requirements.lock",
        "pip install --no-deps .",
    ):
        assert command in runs
    checkout = next(step for step in steps(workflow) if step.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    # the merge commit GitHub made for the check, compared with its first parent (not the base branch's tip, which moves)
    assert "ref" not in checkout["with"] and workflow["jobs"]["check"]["env"]["BASE"] == "HEAD^1"
    assert "${{" not in runs  # event data reaches scripts through env only (no script injection)


def test_comment_workflow_never_runs_pull_request_code():
    workflow = load("pr-comment.yml")
    assert triggers(workflow)["workflow_run"] == {"workflows": ["Pull request check"], "types": ["completed"]}
    assert workflow["permissions"] == {}
    assert workflow["jobs"]["comment"]["permissions"] == {"pull-requests": "write", "actions": "read"}
    assert workflow["concurrency"]["cancel-in-progress"] is False  # runs for one branch queue: one comment, never two
    assert "workflow_run.head_branch" in workflow["concurrency"]["group"]
    used = [step.get("uses", "") for step in steps(workflow)]
    assert not any(item.startswith("actions/checkout@") for item in used)
    assert not any("run" in step for step in steps(workflow))
    script = next(step for step in steps(workflow) if step.get("uses", "").startswith("actions/github-script@"))["with"]["script"]
    assert "/^[1-9][0-9]{0,9}$/.test(raw)" in script and "pr.head.sha !== run.head_sha" in script
    assert "<!-- atc-diff-report -->" in script and "updateComment" in script


def test_pages_deploys_from_the_main_branch():
    workflow = load("pages.yml")
    assert triggers(workflow)["push"] == {"branches": ["main"]}
    deploy = workflow["jobs"]["deploy"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert [step["uses"] for step in deploy["steps"]] == ["actions/deploy-pages@v4"]
    assert any(step.get("uses") == "actions/upload-pages-artifact@v3" for step in workflow["jobs"]["build"]["steps"])
    checkout = next(step for step in workflow["jobs"]["build"]["steps"] if step.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # the published rule history is whole, not a shallow clone's


@pytest.mark.parametrize("name", NAMES)
def test_every_permission_says_what_it_is_for(name):
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    granted = re.findall(r"^\s+(?:[a-z-]+): (?:read|write)\b.*$", text, flags=re.MULTILINE)
    assert granted and all("  # " in line for line in granted), granted


def test_the_comment_is_the_short_report_with_no_mention_issue_reference_or_image():
    runs = "\n".join(step.get("run", "") for step in steps(load("pr-check.yml")))
    limit = int(re.search(r'atc diff "\$BASE" --max-chars (\d+) --output kb-preview/comment\.md', runs).group(1))
    assert limit <= 65_536 - 1_000  # room for the marker and the footer
    script = next(step for step in steps(load("pr-comment.yml")) if "script" in step.get("with", {}))["with"]["script"]
    assert "kb-preview/comment.md" in script and "report.slice(" not in script  # never cut mid-table or mid-code-block
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    start, end = script.index("let fence = null;"), script.index("if (report.length > LIMIT)")
    hostile = [
        "@acme/secops fixes #1, acme/rules#2 ![](https://evil.invalid/p) <img src=x> &#34; a@b &#64;root &#x23;3 \\@admin",
        "@&#117;ser #&#49; &#35;&#x32; &#12 GH-12 gh&#45;3 G&#72;-4 @&commat;x &#0064;y",  # entities GitHub shows as the sign
        "```text",
        "query\r```\r@after-a-carriage-return",  # GitHub ends lines at a lone carriage return too
        "",
        "<div>",  # an HTML block: a fence in it would be no code block, were its tag not escaped
        "```",
        "@inside-html-is-no-code",
        "```",
        "</div>",
        "",
        "```text",
        "from logs-* | where @timestamp > now() - 1h",
        "```",
        "```text",
        "```\u00a0",  # no closing fence: only spaces and tabs may follow one
        "```",
        "@after-a-no-break-space",
        "",
        "```text",
        "@left-open",
    ]
    program = f"let report = {json.dumps(chr(10).join(hostile))};\n{script[start:end]}\nprocess.stdout.write(report);"
    shown = subprocess.run([node, "-e", program], capture_output=True, text=True, check=True).stdout
    lines = shown.replace("\r\n", "\n").replace("\r", "\n")  # as GitHub reads them
    outside = re.sub(r"^```.*?^```$", "", lines, flags=re.MULTILINE | re.DOTALL)  # GitHub finds nothing in code blocks
    assert not re.search(r"(?<![\w&])@\w|(?<!&)#\d|!\[|<|&#(?:64|x23);(?!&#8203;)", outside), outside
    assert not re.search(r"@\w|#\d|(?i:gh)-\d", html.unescape(outside)), outside  # as GitHub reads it, entities decoded
    assert "&#34;" in shown and "where @timestamp > now()" in shown  # atc's entities, and queries exactly as they are
    assert shown.endswith("@left-open\n```\n")  # a code block left open is closed before the footer


@pytest.mark.parametrize(
    "hostile",
    [
        ["- a list item", "  ```", "@out-of-the-item", "```", "@after", "~~~ @info"],  # the item's code block ends with the item
        ["   ```", "code", "```", "@after", "```", "@later"],  # an indented fence at the top: this one is a code block
    ],
)
def test_past_an_indented_fence_no_mention_is_left_working(hostile):
    """Whether an indented fence opens a code block depends on the lines before it: the sanitiser treats none as one after it."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = next(step for step in steps(load("pr-comment.yml")) if "script" in step.get("with", {}))["with"]["script"]
    start, end = script.index("let fence = null;"), script.index("if (report.length > LIMIT)")
    program = f"let report = {json.dumps(chr(10).join(hostile))};\n{script[start:end]}\nprocess.stdout.write(report);"
    shown = subprocess.run([node, "-e", program], capture_output=True, text=True, check=True).stdout
    assert not re.search(r"^@\w", shown, flags=re.MULTILINE), shown
    assert not re.search(r"^ {0,3}(?:```|~~~)", shown, flags=re.MULTILINE), shown  # no code block to swallow the footer


def test_the_comment_warns_when_the_pull_request_changes_how_the_report_is_made():
    script = next(step for step in steps(load("pr-comment.yml")) if "script" in step.get("with", {}))["with"]["script"]
    assert "github.rest.pulls.listFiles" in script and "[!WARNING]" in script
    assert script.index("[!WARNING]") < script.index("const body =")
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    line = next(line for line in script.splitlines() if "const steers =" in line)
    names = [
        ".github/workflows/pr-check.yml",
        "atc.yml",
        "mkdocs.yml",
        "templates/rule.md.j2",
        "atc/engine.py",
        "rules/windows/.atc-site",  # atc takes the folder for a site it built, and reads no rule below it
        "rules/.atc-generated.json",
        "rules/.hidden/deep/evil.yml",  # atc reads no rule in a hidden folder
        "rules/windows/a.yml",
        "docs/atc.yml",
    ]
    program = f"{line}\nprocess.stdout.write(JSON.stringify({json.dumps(names)}.filter(steers)));"
    shown = json.loads(subprocess.run([node, "-e", program], capture_output=True, text=True, check=True).stdout)
    assert shown == names[:8]


HARNESS = """
const posted = [];
const github = {
  rest: {
    pulls: { get: async () => ({ data: { head: { sha: 'abc' } } }), listFiles: 'listFiles' },
    issues: { listComments: 'listComments', createComment: async (call) => posted.push(call), updateComment: async (call) => posted.push(call) },
  },
  paginate: async (what) => (what === 'listFiles' ? FILES : []),
};
const context = { repo: { owner: 'o', repo: 'r' }, payload: { workflow_run: { head_sha: 'abc', conclusion: 'success', html_url: 'https://x.invalid/run' } } };
const core = { setFailed: (message) => posted.push({ failed: message }) };
(async () => { SCRIPT })().then(() => process.stdout.write(JSON.stringify(posted)));
"""


def test_the_comment_script_posts_one_sanitised_comment(tmp_path):
    """The whole script, run by node against a stand-in GitHub API, on a report the pull request's code wrote."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = next(step for step in steps(load("pr-comment.yml")) if "script" in step.get("with", {}))["with"]["script"]
    (tmp_path / "kb-preview").mkdir()
    (tmp_path / "kb-preview" / "pr-number.txt").write_text("7\n", encoding="utf-8")
    (tmp_path / "kb-preview" / "comment.md").write_text(
        "<!-- atc-diff-report -->\n## Report @acme\n\n```text\n@timestamp\n```\n", encoding="utf-8"
    )
    files = [{"filename": ".github/workflows/pr-check.yml"}, {"filename": "rules/a`b.yml"}]
    program = HARNESS.replace("FILES", json.dumps(files)).replace("SCRIPT", script)
    [call] = json.loads(subprocess.run([node, "-e", program], capture_output=True, text=True, check=True, cwd=tmp_path).stdout)
    body = call["body"]
    assert call["issue_number"] == 7 and body.startswith("<!-- atc-diff-report -->\n> [!WARNING]\n")
    assert "(`.github/workflows/pr-check.yml`)" in body and "a`b" not in body
    assert "## Report @\u200bacme\n" in body and "```text\n@timestamp\n```\n" in body and body.count("<!-- atc-diff-report -->") == 1


def test_a_report_kept_within_max_chars_is_posted_whole_even_with_long_file_names(tmp_path):
    """A report `atc diff --max-chars` filled to the brim grows when sanitised (entities at cell starts), and a pull request
    may name files thousands of characters long: the comment still holds the whole report and stays within GitHub's limit."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = next(step for step in steps(load("pr-comment.yml")) if "script" in step.get("with", {}))["with"]["script"]
    limit = int(re.search(r"--max-chars (\d+)", "\n".join(step.get("run", "") for step in steps(load("pr-check.yml")))).group(1))
    rows = [f"| Rule {index} | rules/r{index}.yml | {'&#45; ' if index % 20 == 0 else ''}id |\n" for index in range(limit)]
    report = "<!-- atc-diff-report -->\n"
    while len(report) + len(rows[0]) <= limit:
        report += rows.pop(0)
    (tmp_path / "kb-preview").mkdir()
    (tmp_path / "kb-preview" / "pr-number.txt").write_text("7\n", encoding="utf-8")
    (tmp_path / "kb-preview" / "comment.md").write_text(report, encoding="utf-8")
    files = [{"filename": f"atc/{index}{'x' * 4000}.py"} for index in range(25)]
    program = HARNESS.replace("FILES", json.dumps(files)).replace("SCRIPT", script)
    [call] = json.loads(subprocess.run([node, "-e", program], capture_output=True, text=True, check=True, cwd=tmp_path).stdout)
    assert "too long" not in call["body"] and f"| Rule {limit - len(rows) - 1} |" in call["body"]
    assert len(call["body"]) <= 65_536 and "and 5 more" in call["body"]
