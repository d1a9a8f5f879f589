"""The WSGI entry point gunicorn serves: ``wsgi:app``."""

from messaging import create_app

app = create_app()
