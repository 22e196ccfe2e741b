# The API and the CPU worker: CPU-only PyTorch keeps this image small.
FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 1000 defectgen
WORKDIR /app
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.14.1 torchvision==0.29.1
COPY pyproject.toml README.md alembic.ini ./
COPY api api
COPY worker worker
COPY models models
COPY core core
COPY cli cli
COPY migrations migrations
RUN pip install -e .
USER defectgen
EXPOSE 8000
CMD ["defectgen", "api", "--host", "0.0.0.0", "--port", "8000"]
