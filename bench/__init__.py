"""``make bench``: Harmonia against hand-written Celery canvases on the same worker (DESIGN §4).

Run ``python -m bench --help`` for the options. Results go to stdout and
``bench/results/latest.json``.
"""
