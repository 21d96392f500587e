"""Run records' provenance (results.py): the environment fields, the git commit and the time stamp."""
import datetime
import platform
import re
import subprocess

import pytest
import torch

from savae_lite import results

SHA = re.compile(r"^[0-9a-f]{40}(\+dirty)?$")


@pytest.fixture(autouse=True)
def _no_index_writes(monkeypatch):
    monkeypatch.setenv("GIT_OPTIONAL_LOCKS", "0")  # `git status` must not refresh the index of the checkout


def test_environment_fields_on_cpu():
    env = results.environment("cpu")
    assert set(env) == {"device", "torch", "python", "cpu_threads", "platform", "git_commit"}  # no "gpu" on cpu
    assert env["device"] == "cpu" and env["torch"] == torch.__version__
    assert env["python"] == platform.python_version() and env["platform"] == platform.platform()
    assert env["cpu_threads"] == torch.get_num_threads() == 1  # the tests' one thread (conftest)
    assert env["git_commit"] == "unknown" or SHA.match(env["git_commit"]), env["git_commit"]
    assert results.environment(torch.device("cpu")) == env


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
                   cwd=cwd, check=True, capture_output=True)


def test_git_commit_format_clean_dirty_and_outside_a_repository(tmp_path):
    assert results.git_commit(tmp_path) == "unknown"  # not a repository
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "f.txt").write_text("a\n")
    _git(repo, "add", "f.txt")
    _git(repo, "commit", "-q", "-m", "first")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert results.git_commit(repo) == head and SHA.match(head)
    (repo / "untracked.txt").write_text("ignored by the dirty check\n")
    assert results.git_commit(repo) == head
    (repo / "f.txt").write_text("b\n")
    assert results.git_commit(repo) == head + "+dirty"


def test_git_commit_of_a_repository_without_commits_is_unknown(tmp_path):
    _git(tmp_path, "init", "-q")
    assert results.git_commit(tmp_path) == "unknown"


def test_git_commit_without_git_is_unknown(monkeypatch, tmp_path):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(results.subprocess, "run", no_git)
    assert results.git_commit(tmp_path) == "unknown"


def test_stamp_is_local_iso_time_with_offset():
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    s = results.stamp()
    after = datetime.datetime.now(datetime.timezone.utc)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", s), s
    t = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S%z")
    assert before <= t <= after
