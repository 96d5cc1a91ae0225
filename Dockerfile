# The credit risk service and its tools in one image: `docker build -t credit_risk_nb .`
# By default it runs the scoring API (`crnb_serve`, port 8000); the same image runs `crnb_train`, `crnb_retrain`,
# `crnb_score` and `mlflow server` (see docker-compose.yml and the docs page "A team setup").
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MLFLOW_DISABLE_TELEMETRY=true MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false

# The package from this checkout, with XGBoost's CPU-only wheel (the `cpu` extra) and the PostgreSQL driver for the
# tracking server's backend store and the decision log; then an unprivileged user: the service never runs as root
# (its home holds the artifact folder that docker-compose.yml's `mlflow` service mounts a volume on).
WORKDIR /opt/credit_risk_nb
COPY setup.py settings.ini README.md ./
COPY credit_risk_nb ./credit_risk_nb
RUN pip install "./[cpu]" "psycopg[binary]==3.3.9" \
    && useradd --create-home --uid 10001 crnb \
    && install -d -o crnb -g crnb /home/crnb/mlartifacts
USER 10001
WORKDIR /home/crnb
ENV CRNB_HOME=/home/crnb/.credit_risk_nb

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=4)"]
ENTRYPOINT ["crnb_serve"]
CMD ["--host", "0.0.0.0", "--port", "8000"]
