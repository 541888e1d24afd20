#!/bin/sh
# Superset's start in docker-compose.yml: the Trino driver (not in the image), its metadata schema,
# the admin carwatch lists dashboards as, the carwatch database (Trino's read-only user), then the server.
set -eu
: "${SUPERSET_SECRET_KEY:?set SUPERSET_SECRET_KEY in .env (openssl rand -base64 42)}"
: "${SUPERSET_PASSWORD:?set SUPERSET_PASSWORD in .env: the Superset admin carwatch lists dashboards as}"
# cachetools: Superset 6.1 imports it without requiring it (as the tests' install finds).
pip install --no-cache-dir "trino==0.340.0" cachetools
superset db upgrade
superset fab create-admin --username "$SUPERSET_USER" --password "$SUPERSET_PASSWORD" \
  --firstname carwatch --lastname admin --email admin@carwatch.invalid || true
superset init
superset set-database-uri --database_name carwatch --uri "trino://reader@trino:8080/iceberg"
exec superset run --host 0.0.0.0 --port 8088 --with-threads
