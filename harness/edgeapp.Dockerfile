# The Byte Edge store's services (harness/edgelab/edgeapp: standard library only),
# built the ordinary way where a registry answers. edgelab builds it with
#   docker build -f harness/edgeapp.Dockerfile --build-arg BASE=<pins.yaml python_stock_image> harness/edgelab
# and tags it with every name in manifests/store/images.yaml. The offline build
# makes the same image from Debian packages instead (docs/offline.md).
ARG BASE
FROM ${BASE}
LABEL org.opencontainers.image.title="Byte Edge store services"
COPY edgeapp /app/edgeapp
ENV PYTHONPATH=/app PYTHONUNBUFFERED=1
CMD ["python3", "-m", "edgeapp"]
