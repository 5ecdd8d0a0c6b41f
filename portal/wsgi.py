import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.production")

application = get_wsgi_application()

# Each web process (a gunicorn worker: gunicorn.conf.py keeps preload_app off, so this runs
# after the fork; the dev stack's runserver) loads the embedding model before it serves its
# first request (EMBEDDING_WARM_ON_START; docs/operations.md).
from portal.startup import warm_up  # noqa: E402

warm_up()
