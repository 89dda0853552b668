# The image every step of the Vertex AI / Kubeflow pipeline runs in: TFX 1.16.0 plus tfx-warmup,
# so `--executor_class_path tfx_warmup.component.executor.Executor` imports. Build and push (docs/orchestrators.md, "Vertex AI"):
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/tfx-warmup:0.1.0 .
#   docker push REGION-docker.pkg.dev/PROJECT/REPO/tfx-warmup:0.1.0
FROM tensorflow/tfx:1.16.0

# TFX 1.16's stack runs legacy Keras (tf_keras).
ENV TF_USE_LEGACY_KERAS=1

# The allocators the version swap measures beside glibc's malloc (measure_swap, docs/swap.md).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libjemalloc2 libtcmalloc-minimal4 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/tfx-warmup
COPY pyproject.toml README.md LICENSE ./
COPY component/ component/

# No --upgrade and no constraints file: pip keeps the image's TFX, TensorFlow and Beam and adds only
# what is missing. The import check fails the build, not the first pipeline run.
RUN python -m pip install --no-cache-dir . \
 && python -c "import tfx_warmup.component.executor"
