"""A GitHub Actions runner small enough to trust, for the recipes in examples/github: it
runs a workflow's jobs as a hosted runner would, for exactly the features those recipes
use, and fails on anything else (so a recipe cannot drift from what is tested).

- ``run:`` steps: ``bash --noprofile --norc -eo pipefail`` in the workspace, with the
  workflow's, the job's and the step's ``env``, and the variables GitHub sets
  (``GITHUB_ACTIONS``, a fresh ``GITHUB_STEP_SUMMARY`` per step, ``GITHUB_WORKSPACE``,
  ``RUNNER_TEMP``, ...). A step whose ``id`` is ``install`` is skipped: the package is
  already installed where the tests run.
- ``actions/checkout``, ``actions/setup-python``: the workspace and Python are ready.
- ``actions/cache/restore`` and ``actions/cache/save`` against a dict of saved folders (a
  key can be saved once; restore takes the exact key, else the newest entry whose key
  starts with a restore key).
- ``actions/upload-artifact`` and ``actions/download-artifact`` (``pattern``,
  ``merge-multiple``) against a dict of artifacts; hidden files are left out unless
  ``include-hidden-files``.
- Expressions: ``${{ env.X }}``, ``${{ github.X }}``, ``${{ secrets.X }}``,
  ``${{ matrix.X }}``; conditions: ``always()``, ``success()``, ``failure()`` and
  ``github.event_name == / != '...'``; ``needs`` and ``strategy.matrix`` of one list.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class Step:
    name: str
    outcome: str  # success, failure, skipped
    stdout: str = ""
    stderr: str = ""
    summary: str = ""


@dataclass
class Job:
    name: str
    result: str  # success, failure, skipped
    steps: list[Step] = field(default_factory=list)

    def step(self, name: str) -> Step:
        (found,) = [step for step in self.steps if step.name == name]
        return found


@dataclass
class Runner:
    """Runs ``workflow`` for one event; ``cache`` and ``artifacts`` are shared with the
    caller (the cache outlives a run, as GitHub's does)."""

    workflow: Path
    event: str
    run_id: int
    base_env: Mapping[str, str]
    secrets: Mapping[str, str]
    workspace_of: Any  # Callable[[str], Path]: a fresh checkout for each job
    scratch: Path
    cache: dict[str, Path] = field(default_factory=dict)
    artifacts: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.document = yaml.safe_load(self.workflow.read_text())
        self.document["on"] = self.document.pop(True, self.document.get("on"))  # YAML 1.1

    def run(self) -> dict[str, Job]:
        results: dict[str, Job] = {}
        for name, spec in self.document["jobs"].items():
            needs = spec.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            failed = any(results[need].result == "failure" for need in needs)
            if not self._condition(spec.get("if"), context={}, failed=failed):
                results[name] = Job(name, "skipped")
                continue
            matrix = spec.get("strategy", {}).get("matrix")
            runs = [{}] if matrix is None else self._matrix(matrix)
            jobs = [self._job(name, spec, values) for values in runs]
            result = "failure" if any(job.result == "failure" for job in jobs) else "success"
            for values, job in zip(runs, jobs, strict=True):
                results[name if not values else f"{name} {values}"] = job
            results[name] = Job(name, result, [step for job in jobs for step in job.steps])
        return results

    @staticmethod
    def _matrix(matrix: Mapping[str, Any]) -> list[dict[str, Any]]:
        (key, values), *rest = matrix.items()
        assert not rest, "one matrix variable"
        return [{key: value} for value in values]

    def _job(self, name: str, spec: Mapping[str, Any], matrix: Mapping[str, Any]) -> Job:
        workspace = self.workspace_of(f"{name}-{'-'.join(map(str, matrix.values()))}")
        temp = self.scratch / f"runner-temp-{name}-{len(os.listdir(self.scratch))}"
        temp.mkdir()
        context: dict[str, Any] = {"matrix": dict(matrix), "env": {}}
        env: dict[str, str] = {}
        for layer in (self.document.get("env", {}), spec.get("env", {})):
            for key, value in layer.items():
                env[key] = self._expand(str(value), {**context, "env": env})
        context["env"] = env
        job = Job(name, "success")
        for number, step in enumerate(spec["steps"]):
            failed = job.result == "failure"
            step_name = step.get("name") or step.get("uses") or step.get("id") or f"step {number}"
            if not self._condition(step.get("if"), context=context, failed=failed):
                job.steps.append(Step(step_name, "skipped"))
                continue
            outcome = self._step(step, step_name, workspace, temp, env, context)
            job.steps.append(outcome)
            if outcome.outcome == "failure":
                job.result = "failure"
        return job

    def _step(
        self,
        step: Mapping[str, Any],
        name: str,
        workspace: Path,
        temp: Path,
        env: Mapping[str, str],
        context: Mapping[str, Any],
    ) -> Step:
        inputs = {
            key: self._expand(_text(value), context) for key, value in step.get("with", {}).items()
        }
        if "run" in step:
            if step.get("id") == "install":
                assert step["run"].startswith("python -m pip install"), step["run"]
                return Step(name, "success")
            step_env = {k: self._expand(str(v), context) for k, v in step.get("env", {}).items()}
            return self._shell(step["run"], name, workspace, temp, {**env, **step_env})
        action = step["uses"].split("@")[0]
        if action in ("actions/checkout", "actions/setup-python"):
            return Step(name, "success")
        if action == "actions/cache/restore":
            return self._restore(inputs, workspace, name)
        if action == "actions/cache/save":
            return self._save(inputs, workspace, name)
        if action == "actions/upload-artifact":
            return self._upload(inputs, workspace, name)
        if action == "actions/download-artifact":
            return self._download(inputs, workspace, name)
        raise AssertionError(f"the test runner does not know {action}")

    def _shell(
        self, script: str, name: str, workspace: Path, temp: Path, env: Mapping[str, str]
    ) -> Step:
        assert "${{" not in script, f"{name}: expressions belong in env, not in the script"
        summary = temp / f"summary-{len(os.listdir(temp))}.md"
        summary.touch()
        github = {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": self.event,
            "GITHUB_RUN_ID": str(self.run_id),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_WORKSPACE": str(workspace),
            "RUNNER_TEMP": str(temp),
        }
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=workspace,
            env={**self.base_env, **env, **github},
            capture_output=True,
            text=True,
            timeout=300,
        )
        outcome = "success" if done.returncode == 0 else "failure"
        return Step(name, outcome, done.stdout, done.stderr, summary.read_text())

    def _restore(self, inputs: Mapping[str, str], workspace: Path, name: str) -> Step:
        key = inputs["key"]
        prefixes = [line.strip() for line in inputs.get("restore-keys", "").splitlines()]
        found = self.cache.get(key)
        for prefix in prefixes:
            if found is None and prefix:
                matches = [k for k in self.cache if k.startswith(prefix)]
                found = self.cache[matches[-1]] if matches else None  # the newest
        if found is not None:
            target = workspace / inputs["path"]
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(found, target, symlinks=True)
        return Step(name, "success", stdout="hit" if found is not None else "miss")

    def _save(self, inputs: Mapping[str, str], workspace: Path, name: str) -> Step:
        key = inputs["key"]
        assert key not in self.cache, f"cache key {key} saved twice: GitHub keeps the first"
        source = workspace / inputs["path"]
        if not source.exists():
            return Step(name, "success", stdout="nothing to save")
        target = self.scratch / f"cache-{len(self.cache)}"
        shutil.copytree(source, target, symlinks=True)
        self.cache[key] = target
        return Step(name, "success")

    def _upload(self, inputs: Mapping[str, str], workspace: Path, name: str) -> Step:
        hidden = inputs.get("include-hidden-files", "false") == "true"
        files: list[tuple[str, bytes]] = []
        for line in inputs["path"].splitlines():
            root = workspace / line.strip()
            if not line.strip() or not root.exists():
                continue
            paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
            for path in paths:
                relative = path.relative_to(root if root.is_dir() else root.parent)
                if hidden or not any(part.startswith(".") for part in relative.parts):
                    files.append((relative.as_posix(), path.read_bytes()))
        if not files:  # upload-artifact fails a step that finds nothing to upload
            return Step(name, "failure", stderr=f"no files found at {inputs['path']!r}")
        self.artifacts[inputs["name"]] = files
        return Step(name, "success")

    def _download(self, inputs: Mapping[str, str], workspace: Path, name: str) -> Step:
        names = [n for n in self.artifacts if fnmatch.fnmatch(n, inputs.get("pattern", "*"))]
        merged = inputs.get("merge-multiple", "false") == "true"
        for artifact in names:
            target = workspace / inputs["path"] / ("" if merged else artifact)
            for relative, data in self.artifacts[artifact]:
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                (target / relative).write_bytes(data)
        return Step(name, "success")

    def _condition(self, text: str | None, *, context: Mapping[str, Any], failed: bool) -> bool:
        if text is None or text == "success()":
            return not failed
        text = EXPRESSION.sub(lambda m: m.group(1), str(text)).strip()
        if text == "always()":
            return True
        if text == "failure()":
            return failed
        found = re.fullmatch(r"github\.event_name\s*(==|!=)\s*'([^']*)'", text)
        assert found is not None, f"the test runner cannot evaluate if: {text}"
        return (self.event == found.group(2)) == (found.group(1) == "==") and not failed

    def _expand(self, text: str, context: Mapping[str, Any]) -> str:
        def value(match: re.Match[str]) -> str:
            scope, _, key = match.group(1).partition(".")
            if scope == "github":
                known = {
                    "run_id": str(self.run_id),
                    "run_attempt": "1",
                    "event_name": self.event,
                    "ref": "refs/heads/main",
                }
                return known[key]
            if scope == "secrets":
                return self.secrets.get(key, "")
            if scope in ("env", "matrix"):
                return str(context[scope][key])
            raise AssertionError(f"the test runner cannot evaluate ${{{{ {match.group(1)} }}}}")

        return EXPRESSION.sub(value, text)


def _text(value: Any) -> str:
    """An input as the runner passes it: YAML's true is the string "true"."""
    return str(value).lower() if isinstance(value, bool) else str(value)
