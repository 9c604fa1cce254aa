# inuprep, the BIDS App, as a container image (Docker, Podman, Apptainer/Singularity, Charliecloud).
#
#   docker build -t inuprep .                                   CPU image
#   docker build -t inuprep:cuda --build-arg TORCH_VARIANT=cu128 .   CUDA image (run with --gpus all / --nv)
#   --build-arg FETCH_MODELS=0                                   no deep_atropos files (offline build)
#
# No USER line, and every file readable by any UID (pip writes 0644/0755 files; a chmod in a later layer
# would copy each file into it), so that Apptainer/Singularity run the image read-only as the caller. Nothing
# needs a writable HOME: the App moves HOME (the caches of matplotlib, keras, torch and nipype) into its work
# folder when HOME is unset or not writable.
ARG BASE=python:3.11.14-slim-bookworm
FROM ${BASE}

# unset by default: a build without a registry may pass a pip configuration it mounts for the RUN steps
ARG PIP_CONFIG_FILE

# torch first, from PyTorch's index for the chosen variant (cpu, cu126, cu128, ...); its dependencies and
# the rest from PyPI. TORCH_INDEX_URL="" takes pip's configured indexes instead. TORCH_VERSION must satisfy
# pyproject.toml's pin (2.13.*).
ARG TORCH_VERSION=2.13.0
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/${TORCH_VARIANT}
RUN python3 -m venv /opt/inuprep \
 && /opt/inuprep/bin/pip install --no-cache-dir --no-deps ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} \
        "torch==${TORCH_VERSION}"

# the dependencies before the source, so that a code change rebuilds in seconds; with the 'validate' extra (the
# BIDS validator the App runs on its input)
COPY pyproject.toml constraints.txt /tmp/deps/
RUN /opt/inuprep/bin/python -c "import tomllib; p = tomllib.load(open('/tmp/deps/pyproject.toml', 'rb'))['project']; print(*p['dependencies'], *p['optional-dependencies']['validate'], sep='\n')" > /tmp/deps/requirements.txt \
 && /opt/inuprep/bin/pip install --no-cache-dir -c /tmp/deps/constraints.txt -r /tmp/deps/requirements.txt \
 && rm -rf /tmp/deps

# deep_atropos's files into a read-only cache; FETCH_MODELS=0 skips this (the App then uses its offline
# segmentation and says so in its outputs). Only this module is needed, so a code change does not refetch.
ARG FETCH_MODELS=1
ENV INUPREP_ANTSXNET_CACHE=/opt/antsxnet
COPY inuprep/segmentation/deep_atropos.py /tmp/fetch/
RUN mkdir -p /opt/antsxnet \
 && if [ "${FETCH_MODELS}" = 1 ]; then \
        cd /tmp/fetch && HOME=/tmp/fetch /opt/inuprep/bin/python -c \
            "import sys, deep_atropos; sys.exit(deep_atropos.fetch_main(['/opt/antsxnet']))"; \
    fi \
 && rm -rf /tmp/fetch && chmod -R a+rX,a-w /opt/antsxnet

COPY . /tmp/src
RUN /opt/inuprep/bin/pip install --no-cache-dir --no-deps /tmp/src && rm -rf /tmp/src

# bind points for runtimes that cannot create them in a read-only image (Charliecloud); /work, the default
# work folder when the working directory is /, is writable by any UID (as /tmp) for `docker run --user`
RUN mkdir -p /data /out && mkdir -m 1777 /work

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="inuprep" \
      org.opencontainers.image.description="Zero-shot MRI intensity non-uniformity correction benchmarked against N4, as a BIDS App" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/inuprep/inuprep" \
      org.opencontainers.image.licenses="Apache-2.0"

# OMP_NUM_THREADS=1: parallelism is --nprocs/--omp-nthreads' business, not each library's.
# PYTHONNOUSERSITE: Apptainer binds the user's HOME, whose ~/.local packages must not shadow ours.
ENV PATH=/opt/inuprep/bin:${PATH} \
    INUPREP_CONTAINER=docker \
    OMP_NUM_THREADS=1 \
    PYTHONNOUSERSITE=1 \
    NIPYPE_NO_ET=1 \
    TF_CPP_MIN_LOG_LEVEL=2

ENTRYPOINT ["/opt/inuprep/bin/inuprep"]
