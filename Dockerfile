# smsdesk service image: embedded defaults (SQLite in /data); set SMSDESK_DATABASE_URL for
# PostgreSQL. Build: docker build -t smsdesk .   Run: docker run -p 8000:8000 -v smsdesk:/data
#   -e SMSDESK_ENV=prod -e SMSDESK_API_KEYS=<your key> smsdesk   (listening on 0.0.0.0, `serve`
#   refuses the development key, token, demo and simulator: see README, "Quick start")
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OPENBLAS_NUM_THREADS=1 \
    OMP_NUM_THREADS=1 \
    HF_HUB_OFFLINE=1 \
    ANONYMIZED_TELEMETRY=False \
    SMSDESK_DATA_DIR=/data \
    SMSDESK_HOST=0.0.0.0 \
    SMSDESK_PORT=8000

RUN useradd --create-home --uid 10001 smsdesk && mkdir /data && chown smsdesk /data
WORKDIR /app

# The CPU build of torch from PyTorch's CPU index first, so nothing later pulls CUDA wheels.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md ./
COPY app ./app
COPY prompts ./prompts
COPY knowledge ./knowledge
COPY flows ./flows
RUN pip install .

USER smsdesk
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["smsdesk", "serve"]
