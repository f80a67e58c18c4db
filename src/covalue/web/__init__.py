"""The web workbench (``covalue serve``): team coding, blind rounds, adjudication and dashboards.

Layers call inward only: routers (``api``, ``pages``) → queries (``repository``) and
``security`` → ``covalue.store`` / ``covalue.analysis``. Nothing in the store knows about the web.
"""

from covalue.web.app import create_app

__all__ = ["create_app"]
