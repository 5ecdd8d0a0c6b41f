"""The dev stack launcher: embedded PostgreSQL + pgvector, Valkey, Celery and the web server.

Only used where no DATABASE_URL / REDIS_URL points at real servers. Production never
imports this package (its wheels are in requirements/local.txt only).
"""
