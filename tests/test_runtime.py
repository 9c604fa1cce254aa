"""The process's conditions: HOME, writable output folders, the container runtime, the image's defaults."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inuprep import __version__
from inuprep.runtime import (
    container_type,
    ensure_writable_home,
    torch_threads,
    unwritable_reason,
    usable_cpus,
)


@pytest.mark.parametrize("home", [None, "missing", "a-file"])
def test_an_unusable_home_moves_to_the_fallback(tmp_path, monkeypatch, home):
    (tmp_path / "a-file").write_text("")
    if home is None:
        monkeypatch.delenv("HOME", raising=False)
    else:
        monkeypatch.setenv("HOME", str(tmp_path / home))
    fallback = tmp_path / "work" / "home"
    assert ensure_writable_home(fallback)
    assert fallback.is_dir()
    assert os.environ["HOME"] == str(fallback)


def test_a_writable_home_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert not ensure_writable_home(tmp_path / "fallback")
    assert not (tmp_path / "fallback").exists()


def test_unwritable_reason_creates_nothing(tmp_path):
    (tmp_path / "file").write_text("")
    assert unwritable_reason(tmp_path / "file") == "is a file, not a folder"
    blocked = unwritable_reason(tmp_path / "file" / "out")
    assert blocked == f"cannot be created ({tmp_path / 'file'} is not a folder)"
    assert unwritable_reason(tmp_path / "new" / "deeper") is None
    assert unwritable_reason(tmp_path) is None
    assert not (tmp_path / "new").exists()


def test_container_type_names_the_runtime_that_runs_the_image(monkeypatch):
    for variable in ("APPTAINER_CONTAINER", "SINGULARITY_CONTAINER", "CH_RUNNING", "INUPREP_CONTAINER"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("container", raising=False)
    assert container_type() is None
    monkeypatch.setenv("INUPREP_CONTAINER", "docker")
    assert container_type() == "docker"
    monkeypatch.setenv("container", "podman")  # podman sets it in every container
    assert container_type() == "podman"
    monkeypatch.setenv("APPTAINER_CONTAINER", "/images/inuprep.sif")
    assert container_type() == "apptainer"


def test_the_dockerfile_labels_the_package_version_by_default():
    dockerfile = (Path(__file__).parents[1] / "Dockerfile").read_text()
    assert f"ARG VERSION={__version__}\n" in dockerfile
    assert 'ENTRYPOINT ["/opt/inuprep/bin/inuprep"]' in dockerfile


def test_torch_takes_one_thread_when_every_cpu_is_busy():
    cpus = usable_cpus()
    assert 1 <= cpus <= len(os.sched_getaffinity(0))
    assert torch_threads(cpus + 5) <= cpus and torch_threads(1) == 1
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cpus)]
    try:
        time.sleep(0.5)
        assert torch_threads(2) == 1  # a second thread would wait at every barrier for a busy CPU
    finally:
        for hog in hogs:
            hog.kill()
