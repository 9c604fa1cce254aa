"""Stand-ins for the five files deep_atropos reads, built offline with antspynet's own architectures.

``python tests/antsxnet_standins.py DIR`` writes into DIR what ``inuprep-fetch-models`` would download:

- ``brainExtractionRobustT1.h5`` and ``sixTissueOctantBrainSegmentationWithPriors1.h5``: the networks
  ``antspynet.brain_extraction(modality="t1")`` and ``antspynet.deep_atropos(use_spatial_priors=1)`` build,
  with the same ``create_unet_model_3d`` arguments, random weights (seeded), saved by keras as legacy HDF5,
  the format antspynet loads. Two output layers are set so the path is not degenerate: the brain extraction
  answers "brain" everywhere in its field of view (else the mask, and every later step, would be empty) and
  the segmentation never prefers the background and gives each tissue label a share of the template (its
  biases balanced on it). The labels carry no anatomy.
- ``S_template3.nii.gz`` (brain extraction's reorientation template: only its grid and centre of mass
  matter), ``croppedMni152.nii.gz`` (the registration template) and ``croppedMni152Priors.nii.gz`` (7 priors,
  4D; deep_atropos feeds the 7th, cerebellum, to the network): nilearn's MNI152 and its GM/WM maps.

Run in a process of its own: tensorflow never loads beside torch (as in the App).
"""

import os
import sys
from pathlib import Path

import nibabel as nb
import numpy as np

#: deep_atropos's patch (antspynet 0.3.x) and the reorientation template's shape (divisible by 2**3)
PATCH = (112, 112, 112)
REORIENT_SHAPE = (96, 112, 96)


def crop_or_pad(data: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Return ``data`` centred in an array of ``shape`` (cropped or zero-padded per axis)."""
    out = np.zeros(shape, dtype=np.float32)
    source, target = [], []
    for have, want in zip(data.shape, shape, strict=True):
        start = abs(have - want) // 2
        size = min(have, want)
        source.append(slice(start, start + size) if have > want else slice(0, size))
        target.append(slice(start, start + size) if want > have else slice(0, size))
    out[tuple(target)] = data[tuple(source)]
    return out


def write_templates(cache: Path) -> None:
    from inuprep.utils.mni152 import mni152

    t1, gm, wm = mni152(1.5, maps=("T1", "GM", "WM"))
    affine = t1.affine
    brain = t1.get_fdata(dtype=np.float32)
    assert all(size >= patch for size, patch in zip(brain.shape, PATCH, strict=True)), brain.shape
    nb.Nifti1Image(brain, affine).to_filename(cache / "croppedMni152.nii.gz")
    inside = (brain > 0).astype(np.float32)
    grey, white = gm.get_fdata(dtype=np.float32), wm.get_fdata(dtype=np.float32)
    csf = np.clip(inside - grey - white, 0, 1)
    zeros = np.zeros_like(brain)
    priors = np.stack([1 - inside, csf, grey, white, zeros, zeros, zeros], axis=-1)
    nb.Nifti1Image(priors, affine).to_filename(cache / "croppedMni152Priors.nii.gz")
    reorient = crop_or_pad(mni152(2.0)[0].get_fdata(dtype=np.float32), REORIENT_SHAPE)
    nb.Nifti1Image(reorient, np.diag([1.5, 1.5, 1.5, 1.0])).to_filename(cache / "S_template3.nii.gz")


def set_output_bias(model, bias: np.ndarray) -> None:
    """Zero the last layer's kernel and set its bias: the network then answers ``bias`` everywhere."""
    kernel, _ = model.layers[-1].get_weights()
    model.layers[-1].set_weights([np.zeros_like(kernel), bias.astype(kernel.dtype)])


def balance_labels(model, template: Path) -> None:
    """Set the last layer so that labels 1-6 follow the three main directions in which the network's last
    features vary on the template's central patch (each label one sign of one direction), and the background
    is never chosen. The random kernel alone gave one label nearly every voxel and another a few, which the
    registration's sampling could take to none (CI once had WM with fewer than two voxels)."""
    import keras

    brain = crop_or_pad(nb.load(template).get_fdata(dtype=np.float32), PATCH)
    patch = np.stack([(brain - brain.mean()) / brain.std(), np.zeros_like(brain)], axis=-1)[None]
    features = keras.Model(model.inputs, model.layers[-2].output).predict(patch, verbose=0)
    features = features.reshape(-1, features.shape[-1]).astype(np.float64)
    mean = features.mean(axis=0)
    _, scales, directions = np.linalg.svd(features - mean, full_matrices=False)
    columns = [sign * directions[k] / scales[k] for k in range(3) for sign in (1, -1)]
    kernel, bias = model.layers[-1].get_weights()
    kernel[...] = 0.0
    kernel.reshape(-1, kernel.shape[-1])[:, 1:] = np.stack(columns, axis=1)
    bias[0] = -1e3
    bias[1:] = [-(mean @ column) for column in columns]
    model.layers[-1].set_weights([kernel, bias])


def write_networks(cache: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    from antspynet.architectures import create_unet_model_3d

    keras.utils.set_random_seed(0)
    # brain_extraction(modality="t1"): a "standard network" on the reorientation template's grid
    extraction = create_unet_model_3d(
        (*REORIENT_SHAPE, 1), number_of_outputs=1, mode="sigmoid", number_of_filters=(16, 32, 64, 128),
        dropout_rate=0.0, convolution_kernel_size=3, deconvolution_kernel_size=2, weight_decay=1e-5,
    )  # fmt: skip
    set_output_bias(extraction, np.array([4.0]))  # sigmoid(4) = 0.98: brain everywhere it looks
    extraction.save(cache / "brainExtractionRobustT1.h5", include_optimizer=False)
    # deep_atropos(use_spatial_priors=1): 7 classes, the image and the cerebellum prior as 2 channels
    segmentation = create_unet_model_3d(
        (*PATCH, 2), number_of_outputs=7, mode="classification", number_of_layers=4,
        number_of_filters_at_base_layer=16, dropout_rate=0.0, convolution_kernel_size=(3, 3, 3),
        deconvolution_kernel_size=(2, 2, 2), weight_decay=1e-5, additional_options=("attentionGating"),
    )  # fmt: skip
    balance_labels(segmentation, cache / "croppedMni152.nii.gz")
    segmentation.save(cache / "sixTissueOctantBrainSegmentationWithPriors1.h5", include_optimizer=False)


def main(cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    write_templates(cache)
    write_networks(cache)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
