"""Storage: SQLAlchemy tables, Alembic migrations and the repository every interface uses."""

from covalue.store.database import ENV_VAR, resolve_url
from covalue.store.repository import ProjectInfo, Store, derived_guid

__all__ = ["ENV_VAR", "ProjectInfo", "Store", "derived_guid", "resolve_url"]
