"""edgelab's fault operator (kopf). Its handlers arrive with the fault issue;
the package exists now so the image build and packaging have their final shape."""
