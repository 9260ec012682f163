"""``python -m app.cli``: the ``harmonia`` command (how ``harmonia dev`` starts its children)."""

from app.cli import main

main()
