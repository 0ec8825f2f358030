"""Production entry point: ``gunicorn 'cds_hooks.wsgi:app'`` (or ``'cds_hooks.app:create_app()'``)."""
from cds_hooks.app import create_app

app = create_app()
