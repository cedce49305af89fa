# flexledger: one image for every role (migrate, worker, scheduler, the command line).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# tzdata: the scheduler's cron times are Asia/Shanghai (zoneinfo needs the database).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tzdata \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY ledger ./ledger
COPY workers ./workers
COPY migrations ./migrations
# Not editable: the package, its policy data and the migrations are installed together.
RUN pip install .

# Workers and the scheduler refuse to run as root for no reason.
RUN useradd --create-home --uid 10001 flexledger
USER flexledger

ENTRYPOINT ["flexledger"]
CMD ["--help"]
