"""What an input is: one image to correct, the images it is paired with and the masks a user supplied, and
the plan that carries them together through the workflows."""

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import nibabel as nb

from inuprep.segmentation.base import on_same_grid, tissue_names
from inuprep.utils.bids import split_extension, split_name

if TYPE_CHECKING:
    from inuprep.harmonizers.model import Harmonization, HarmonizationPlan


class DiscoveryError(ValueError):
    """The dataset or the selection cannot be used; the message is one line naming the fix."""


@dataclass(frozen=True)
class ImageRun:
    """One image to correct: where it is, its BIDS entities and its contrast."""

    path: Path
    subject: str
    contrast: str  # 'T1w', 'T2w' or 'dixon'
    session: str | None = None
    component: str | None = None  # Dixon: water, fat, in, out
    entities: dict = field(default_factory=dict, hash=False, compare=False)
    #: whether the scanner normalised its receive field (None: unknown; ``discovery.receive_normalised``)
    normalised: bool | None = field(default=None, compare=False)
    #: the sidecar's sequence parameters (``discovery.SEQUENCE_FIELDS``; None where absent)
    sequence: tuple = field(default=(), hash=False, compare=False)

    @property
    def label(self) -> str:
        """Return a short name for summaries and node names, e.g. 'T1w' or 'dixon-water'."""
        return f"dixon-{self.component}" if self.contrast == "dixon" else self.contrast


def _entities(path: Path) -> dict[str, str]:
    return dict(split_name(path)[0])


def session_t1w(run: ImageRun, runs: list[ImageRun]) -> ImageRun | None:
    """Return the T1w of ``run``'s participant and session whose masks a T2w reuses (first by path)."""
    if run.contrast != "T2w":
        return None
    t1ws = [r for r in runs if r.contrast == "T1w" and (r.subject, r.session) == (run.subject, run.session)]
    return min(t1ws, key=lambda r: str(r.path), default=None)


def dixon_pair(run: ImageRun, runs: list[ImageRun]) -> tuple[Path, Path] | None:
    """Return the (water, fat) images of ``run``'s Dixon acquisition, or None.

    The pair has names equal but for ``rec-``; failing that (components told apart by the sidecar's
    ImageType, in files numbered by ``run-``), equal but for ``rec-`` and ``run-`` when that leaves exactly
    one water and one fat image.
    """
    if run.contrast != "dixon":
        return None
    for ignored in (("rec",), ("rec", "run")):

        def key(r, ignored=ignored):
            return {k: v for k, v in _entities(r.path).items() if k not in ignored}, r.path.parent

        found = defaultdict(list)
        for other in runs:
            if other.contrast == "dixon" and key(other) == key(run):
                found[other.component].append(other.path)
        if len(found["water"]) == 1 and len(found["fat"]) == 1:
            return found["water"][0], found["fat"][0]
    return None


def normalised_reference(run: ImageRun, runs: list[ImageRun]) -> Path | None:
    """Return the image of ``run``'s acquisition that the scanner normalised for its receive field, when
    ``run`` is the one it did not: source / reference is then a measured field.

    The reference has ``run``'s name but for ``acq-`` and ``rec-``, its contrast, the same value of every
    sequence parameter both sidecars give, and its grid (shape and affine); exactly one must qualify.
    """
    if run.normalised is not False or run.contrast == "dixon":
        return None

    def key(r):
        return {k: v for k, v in _entities(r.path).items() if k not in ("acq", "rec")}, r.path.parent

    def same_sequence(r):
        pairs = zip(run.sequence, r.sequence, strict=False)
        return all(a == b for a, b in pairs if a is not None and b is not None)

    found = [r for r in runs if r.normalised and r.contrast == run.contrast and key(r) == key(run)]
    found = [r for r in found if same_sequence(r) and on_same_grid(nb.load(run.path), nb.load(r.path))]
    return found[0].path if len(found) == 1 else None


@dataclass(frozen=True)
class UserMasks:
    """Masks (and a known field) a user supplied for one image in a derivatives folder (``--derivatives``)."""

    dseg: Path | None = None
    dseg_tsv: Path | None = None
    regions: tuple[tuple[str, Path], ...] = ()  # (label, _mask file)
    bias_field: Path | None = None  # the true field of a simulation: the evaluation adds the error against it


def find_user_masks(derivatives: Path, run: ImageRun) -> UserMasks:
    """Return the ``_dseg``, ``_label-<name>_mask`` and known ``_biasfield`` files that apply to ``run``.

    A file of ``derivatives`` applies when each of its entities but ``label``, ``desc``, ``space`` and
    ``mod`` has the source's value (a mask without ``rec-`` serves every Dixon component), and ``space-``
    (inuprep's own names) or ``mod-`` (older ones), when present, names the source's suffix: a file in a
    template's space is not on the image's grid. A known field has no ``desc-`` or ``desc-truth`` (so that an
    inuprep output folder's estimated fields are not taken for the truth). Of several dsegs or fields the
    most specific wins. Raises DiscoveryError when a dseg has no ``dseg.tsv`` (its labels would have no
    names).
    """
    source, (_, source_suffix, _) = _entities(run.path), split_name(run.path)
    folder = derivatives / f"sub-{run.subject}" / (f"ses-{run.session}" if run.session else "") / "anat"
    dsegs, regions, fields = [], [], []
    for path in sorted(folder.glob("*.nii*")):
        try:
            pairs, suffix, _ = split_name(path)
        except ValueError:
            continue
        entities = dict(pairs)
        own = {k: v for k, v in entities.items() if k not in ("label", "desc", "space", "mod")}
        if any(source.get(k) != v for k, v in own.items()):
            continue
        if any(entities.get(key, source_suffix) != source_suffix for key in ("space", "mod")):
            continue
        if suffix == "dseg":
            dsegs.append((len(own), path))
        elif suffix == "mask" and "label" in entities:
            regions.append((entities["label"], path))
        elif suffix == "biasfield" and entities.get("desc", "truth") == "truth":
            fields.append((len(own), path))
    bias_field = max(fields, key=lambda item: item[0])[1] if fields else None
    if not dsegs:
        return UserMasks(regions=tuple(regions), bias_field=bias_field)
    dseg = max(dsegs, key=lambda item: item[0])[1]
    table = dseg.with_name(split_extension(dseg.name)[0] + ".tsv")
    if not table.is_file():
        table = folder / "dseg.tsv"  # one table for the folder, as BIDS allows at a higher level
    if not table.is_file():
        raise DiscoveryError(
            f"{dseg}: no label table ({split_extension(dseg.name)[0]}.tsv); name every label"
        )
    return UserMasks(dseg=dseg, dseg_tsv=table, regions=tuple(regions), bias_field=bias_field)


@dataclass(frozen=True)
class ImagePlan:
    """One image and what belongs to it, decided once when the run is planned: the T1w whose masks it
    reuses (a T2w's, unless a user's dseg wins), its Dixon (water, fat) pair, the user's masks and known
    field, the same acquisition normalised by the scanner (a measured field) and the harmonization of its
    correction."""

    run: ImageRun
    t1w: ImageRun | None = None
    dixon_pair: tuple[Path, Path] | None = None
    user_masks: UserMasks = field(default_factory=UserMasks)
    measured_reference: Path | None = None  # normalised_reference(): source / it is a measured field
    harmonization: "Harmonization | None" = None

    @property
    def tissues(self) -> tuple[str, ...]:
        """Return the tissues whose posterior maps its segmentation writes."""
        return tissue_names(self.run, self.dixon_pair is not None, self.user_masks.dseg is not None)


def plan_images(
    runs: list[ImageRun], derivatives: Path | None = None, harmonization: "HarmonizationPlan | None" = None
) -> list[ImagePlan]:
    """Return the plan of each of ``runs``: its session's T1w, Dixon pair, the masks ``derivatives`` holds
    for it and its harmonization; raise DiscoveryError for a user's dseg without a label table."""
    user = {run: find_user_masks(derivatives, run) if derivatives else UserMasks() for run in runs}
    plans = []
    for run in runs:
        t1w = session_t1w(run, runs)
        if t1w is not None and (user[run].dseg or user[t1w].dseg):
            t1w = None  # a user's labels have no posterior maps to move, and the T2w's own dseg wins
        plans.append(ImagePlan(
            run=run, t1w=t1w, dixon_pair=dixon_pair(run, runs), user_masks=user[run],
            measured_reference=normalised_reference(run, runs),
            harmonization=harmonization.for_image(run.label) if harmonization else None,
        ))  # fmt: skip
    return plans
