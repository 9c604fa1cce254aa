"""Tissue masks computed once per image and shared by every method's evaluation (pure: no nipype).

Brain images (T1w, T2w), in order of preference:

1. ``deep_atropos`` (ANTsPyNet; Tustison et al. 2021) when its files are in the ANTsXNet cache (T1w only;
   :mod:`inuprep.segmentation.deep_atropos`, in a process of its own). Its six labels stay in the ``dseg``;
   CSF = 1, GM = cortical 2 + deep 4, WM = 3; brain stem and cerebellum are not evaluated.
2. A T2w with a T1w in the same session reuses that T1w's masks, moved by a rigid registration (antspyx,
   mutual information; :mod:`~inuprep.segmentation.transfer`).
3. Offline fallback (:mod:`~inuprep.segmentation.brain`): deepbet brain extraction (Fisch et al. 2024;
   weights ship in the wheel), the MNI152 2009a T1 that nilearn ships registered to the image (affine + SyN
   at 2 mm), and a three-class Gaussian mixture with its GM and WM maps and CSF = brain - GM - WM as priors
   and a Markov random field (:mod:`~inuprep.segmentation.tissue_model`, Atropos's model (Avants et al.
   2011) in numpy; chosen with ``benchmarks/segmentation_dice.py``). The priors name the classes, so a T2w
   needs no reversed intensity order.

Dixon images (:mod:`~inuprep.segmentation.dixon`): the water fraction water / (water + fat) of the
acquisition's two components splits the object into a water and a fat region (both components share one
receive field, so the fraction is free of it); a component without its partner is split into a dim and a
bright class. User masks (``--derivatives``; :mod:`~inuprep.segmentation.labels`) take precedence over all
of these.

The classes are fitted to the consensus of every method's corrected image (their mean after scaling each to
mean 1), not to the original: masks fitted to one image's intensities favour that image, and masks that
include the biased original follow the field (``benchmarks/mask_bias.py``). The consensus lets no single
correction decide them. The masks still flatter corrections against the original, which is why images with
a known field are judged by ground-truth error.

Reproducibility: ANTs registrations take the run's seed
(:func:`~inuprep.segmentation.antspyx.ants_random_seed`), Atropos a constant seed and the tissue model has
none, so one ITK thread gives the same masks on every run; with more threads ITK's multithreaded metric sums,
and with them the registrations, vary slightly.
"""
