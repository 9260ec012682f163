# One image for the API and the workers (docker-compose picks the command).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /srv/harmonia
COPY pyproject.toml setup.cfg README.md ./
ENV HARMONIA_HOME=/tmp/harmonia
COPY app ./app
COPY worker ./worker
COPY config ./config
COPY migrations ./migrations
COPY examples ./examples
COPY clients/python ./clients/python
# The server, and the Python client its `harmonia workflows/run/runs/events` commands use.
RUN pip install --no-cache-dir . ./clients/python && useradd --system --home /srv/harmonia harmonia
USER harmonia
EXPOSE 8002
CMD ["harmonia", "api"]
