-- Superset's own metadata (dashboards, users) beside the Iceberg catalog, in docker-compose.yml's postgres.
CREATE DATABASE superset;
