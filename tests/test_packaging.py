"""A wheel works outside the checkout: prompts and the default corpus travel as package data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_a_wheel_installed_outside_the_checkout_answers_from_the_bundled_collection(tmp_path):
    source = tmp_path / "source"  # the tracked files only: no build/ left over from an earlier build
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], check=True, capture_output=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(source)], check=True, capture_output=True, timeout=300)
    [wheel] = wheels.glob("grounded_assistant-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"prompts/answer.txt", "prompts/system.txt", "prompts/condense.txt",
            "corpus/strategic-mechanism.md", "assistant/interfaces/static/embed.html"} <= names
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    env.pop("ASSISTANT_DATA_DIR", None)  # the default: ./data of where it runs
    result = subprocess.run(
        [sys.executable, "-c", "from assistant.interfaces.cli import main; main()", "ask", "--json",
         "When was the U.S.-Turkey Strategic Mechanism announced?"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout)
    assert "April 2022" in answer["answer"]
    source = Path(answer["citations"][0]["source"])
    assert site in source.parents and source.name == "strategic-mechanism.md", "the corpus from the wheel"
    assert (elsewhere / "data").is_dir(), "the store lives in ./data of where it ran"
    assert ROOT not in source.parents
