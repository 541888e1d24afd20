# Superset for docker-compose.yml's full profile: metadata in the stack's PostgreSQL, secrets from the
# environment (compose passes them through from .env).
import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = (
    f"postgresql+psycopg2://{os.environ['POSTGRES_USER']}:{os.environ['POSTGRES_PASSWORD']}@postgres:5432/superset"
)
