"""Job files: TOML, YAML, JSON and JSONL tasks; errors that point at the line."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from acphost.jobs import (
    AgentConfig,
    Budget,
    CommandSandbox,
    Job,
    JobFileError,
    Task,
    WorkspaceSource,
    load_job,
    run_job,
)
from acphost.jobs._workspace import materialise, pack
from acphost.testing import fake_agent_command
from jobs_support import writes

TOML = """\
name = "cmp"
attempts = 2
concurrency = 3

[budget]
trial = 0.5
job = 5.0

[[agents]]
name = "fake"
command = "python -m acphost.testing.fake_agent echo"
permission = "allow"

[[agents]]
agent = "claude"
mode = "default"
resources = { "agent:claude" = 1 }

[[tasks]]
id = "fix-bug"
prompt = "Fix the bug"
workspace = { path = "repo" }
check = "pytest -q"
timeout = 600

[[tasks]]
id = "two-turns"
prompt = ["first", "second"]
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_toml_job_and_the_same_job_in_python_are_equal(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    loaded = load_job(_write(tmp_path, "cmp.toml", TOML))
    built = Job(
        name="cmp",
        attempts=2,
        concurrency=3,
        budget=Budget(trial=0.5, job=5.0),
        agents=[
            AgentConfig(
                name="fake",
                command=["python", "-m", "acphost.testing.fake_agent", "echo"],
                permission="allow",
            ),
            AgentConfig(agent="claude", mode="default", resources={"agent:claude": 1}),
        ],
        tasks=[
            Task(
                id="fix-bug",
                prompt="Fix the bug",
                workspace=WorkspaceSource(path=str(tmp_path / "repo")),  # relative to the file
                check="pytest -q",
                timeout=600,
            ),
            Task(id="two-turns", prompt=["first", "second"]),
        ],
    )
    assert loaded == built
    assert loaded.agents[1].name == "claude"
    assert len(loaded.cells()) == 2 * 2 * 2


@pytest.mark.parametrize(
    ("mistake", "line", "words"),
    [
        ("timeout = 600", "timeout = -1", (24, "tasks[0].timeout", "greater than 0")),
        ('id = "two-turns"', 'id = "two turns"', (27, "tasks[1].id", "letters, digits")),
        ('agent = "claude"', 'agent = "claude"\ncommand = "x"', (14, "agents[1]", "exactly one")),
        ("attempts = 2", "attempts = 0", (2, "attempts", "greater than or equal to 1")),
        ("trial = 0.5", "trail = 0.5", (6, "budget.trail", "Extra inputs")),
    ],
)
def test_toml_validation_errors_point_at_the_line(
    tmp_path: Path, mistake: str, line: str, words: tuple[int, str, str]
) -> None:
    number, where, message = words
    path = _write(tmp_path, "job.toml", TOML.replace(mistake, line))
    with pytest.raises(JobFileError) as caught:
        load_job(path)
    assert caught.value.line == number, str(caught.value)
    assert str(caught.value).startswith(f"{path}:{number}: {where}: ")
    assert message in str(caught.value)
    assert caught.value.code == "job_file_invalid"


def test_a_toml_syntax_error_has_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "job.toml", TOML.replace("attempts = 2", "attempts = = 2"))
    with pytest.raises(JobFileError) as caught:
        load_job(path)
    assert caught.value.line == 2


def test_yaml_jobs_and_their_errors(tmp_path: Path) -> None:
    text = """\
        name: y
        agents:
          - name: fake
            command: [python, -m, acphost.testing.fake_agent, echo]
        tasks:
          - id: a
            prompt: hello
          - id: b
            prompt: hello
            check_timeout: 0
        """
    with pytest.raises(JobFileError) as caught:
        load_job(_write(tmp_path, "y.yaml", text))
    assert caught.value.line == 10
    assert "tasks[1].check_timeout" in str(caught.value)
    job = load_job(_write(tmp_path, "ok.yml", text.replace("check_timeout: 0", "check: 'true'")))
    assert [t.id for t in job.tasks] == ["a", "b"]


def test_tasks_from_a_jsonl_file_and_its_errors(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "tasks.jsonl",
        '{"id": "a", "prompt": "one"}\n# a comment\n\n{"id": "b", "prompt": "two"}\n',
    )
    job_text = 'name = "j"\ntasks_file = "tasks.jsonl"\n[[agents]]\ncommand = "x"\n'
    job = load_job(_write(tmp_path, "j.toml", job_text))
    assert [t.id for t in job.tasks] == ["a", "b"]
    _write(tmp_path, "tasks.jsonl", '{"id": "a", "prompt": "one"}\n\n{"id": "b", "prompt": ""}\n')
    with pytest.raises(JobFileError) as caught:
        load_job(tmp_path / "j.toml")
    assert (caught.value.path, caught.value.line) == (str(tmp_path / "tasks.jsonl"), 3)
    _write(tmp_path, "tasks.jsonl", '{"id": "a", "prompt": "one"}\n{"id": \n')
    with pytest.raises(JobFileError) as caught:
        load_job(tmp_path / "j.toml")
    assert caught.value.line == 2


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(JobFileError, match="cannot read the job file"):
        load_job(tmp_path / "nope.toml")


def test_workspaces_from_a_folder_an_archive_and_a_git_revision(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("one")
    copied = materialise(WorkspaceSource(path=str(source)), tmp_path / "w1")
    assert (copied / "a.txt").read_text() == "one"
    unpacked = materialise(
        WorkspaceSource(path="/elsewhere"),
        tmp_path / "w2",
        packed=pack(WorkspaceSource(path=str(source))),
    )
    assert (unpacked / "a.txt").read_text() == "one"

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(source), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "one")
    first = git("rev-parse", "HEAD")
    (source / "a.txt").write_text("two")
    git("commit", "-qam", "two")
    checked_out = materialise(WorkspaceSource(git=str(source), rev=first), tmp_path / "w3")
    assert (checked_out / "a.txt").read_text() == "one"


def test_a_command_sandbox_wraps_the_agent_setup_and_check(tmp_path: Path) -> None:
    job = Job(
        name="sandboxed",
        sandbox="command",
        sandbox_command=["env", "SANDBOXED={workspace}"],
        agents=[AgentConfig(name="fake", command=fake_agent_command(writes(), directory=tmp_path))],
        tasks=[
            Task(
                id="t",
                prompt="go",
                setup='echo "$SANDBOXED" > setup.txt',
                check='test "$SANDBOXED" = "$(pwd)" && test -f out.txt',
            )
        ],
    )
    (trial,) = run_job(job, store=tmp_path / "s.db", workdir=tmp_path / "ws").trials
    assert trial.outcome == "passed", trial.check_output
    workspace = tmp_path / "ws" / "sandboxed" / "t" / "fake" / "1.1"
    assert (workspace / "setup.txt").read_text().strip() == str(workspace)
    assert CommandSandbox(["x", "{workspace}"]).wrap(["a"], Path("/w")) == ["x", "/w", "a"]
