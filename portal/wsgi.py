import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.production")

application = get_wsgi_application()

# Each web process (a gunicorn worker: gunicorn.conf.py keeps preload_app off, so this runs
# after the fork) loads the embedding model before it serves its first request
# (EMBEDDING_WARM_ON_START; the dev stack's runserver loads it in the background,
# WARM_UP_IN_BACKGROUND, so that it answers at once; docs/operations.md).
from portal.startup import warm_up_on_start  # noqa: E402

warm_up_on_start()
