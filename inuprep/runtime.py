"""Conditions of the process the App runs in: a usable HOME and writable output folders."""

import os
from pathlib import Path


def ensure_writable_home(fallback: Path) -> bool:
    """Point ``HOME`` at ``fallback`` when it is unset or not writable; return whether it was moved.

    ``apptainer run --no-home``, ``docker run --user UID`` and many batch systems leave HOME missing,
    read-only or a folder the UID does not own; matplotlib, keras, torch and nipype keep their caches and
    configuration under HOME, and ``Path.home()`` raises for a UID without a passwd entry. Node processes
    inherit the value.
    """
    home = os.environ.get("HOME")
    if home and os.path.isdir(home) and os.access(home, os.W_OK | os.X_OK):
        return False
    fallback.mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(fallback)
    return True


def unwritable_reason(folder: Path) -> str | None:
    """Return why ``folder`` cannot be created or written (None: it can), without creating anything."""
    if folder.exists():
        if not folder.is_dir():
            return "is a file, not a folder"
        return None if os.access(folder, os.W_OK | os.X_OK) else "is not writable"
    parent = folder.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot be created ({parent} is not a folder)"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be created ({parent} is not writable)"
    return None


def container_type() -> str | None:
    """Return the container runtime of this process (None: none), for ``GeneratedBy.Container``.

    The image sets ``INUPREP_CONTAINER=docker``; Apptainer, Singularity and Charliecloud run the same image
    and announce themselves through their own variables.
    """
    for variable, name in (
        ("APPTAINER_CONTAINER", "apptainer"),
        ("SINGULARITY_CONTAINER", "singularity"),
        ("CH_RUNNING", "charliecloud"),
    ):
        if os.environ.get(variable):
            return name
    return os.environ.get("INUPREP_CONTAINER")
