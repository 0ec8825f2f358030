"""Production entry point: ``gunicorn -c python:cds_hooks.gunicorn_conf 'cds_hooks.wsgi:app'`` (the settings file
preloads the application once for all workers; see docs/performance.md)."""
from cds_hooks.app import create_app
from cds_hooks.gc_tuning import tune_for_serving

app = create_app()
tune_for_serving()  # loaded and warm: freeze the start-up heap (in the master when preloaded, else in each worker)
