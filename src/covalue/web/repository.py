"""Web-specific queries: accounts, sessions, memberships, visible codings, queues and rounds.

Everything the web needs from the database goes through :class:`WebStore`, which wraps the
shared :class:`~covalue.store.Store` (same engine, same transactions). Two rules live here and
nowhere else, so that no router can forget them:

* **Visibility.** :meth:`WebStore.visible_clause` is the SQL condition a coding must meet to
  be shown to a member. While a blind round is open, the codings its coders make on its
  incidents are visible only to their author (an owner who is not one of the round's coders
  may watch). Every listing of codings and every count is filtered with it.
* **No lost updates.** A coding's ``updated_at`` is its version: an edit names the version it
  read and the UPDATE only succeeds if that is still the stored one (compare-and-swap); the
  new version is strictly later. Saves of one coder are serialized by a row lock on the
  coder (``SELECT … FOR UPDATE`` on PostgreSQL; one writer lock per process on SQLite, which
  serializes writers anyway), so "replace the code of a single-valued dimension" never leaves
  two codes behind.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, false, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from covalue.errors import CovalueError
from covalue.framework.codebook import Codebook
from covalue.model.incident import Coder
from covalue.model.labels import LabelRow
from covalue.store.repository import ProjectInfo, Store, derived_guid
from covalue.store.tables import (
    CodebookRow,
    CoderRow,
    CodingRow,
    IncidentRow,
    MemberRow,
    ProjectRow,
    RoundCoderRow,
    RoundIncidentRow,
    RoundRow,
    SessionRow,
    UserRow,
    utcnow,
)
from covalue.web import security

ROLES = ("viewer", "coder", "owner")
_RANK = {role: rank for rank, role in enumerate(ROLES)}
#: Coder names the web never hands to a person: adjudication writes as "consensus".
RESERVED_NAMES = frozenset({"consensus"})
#: Characters allowed in user names (they become coder names and appear in URLs).
#: Seconds the web trusts its idea of a project's current codebook.
CODEBOOK_TTL = 5.0
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


class WebError(CovalueError):
    """A request the web layer refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class NotFound(WebError):
    def __init__(self, message: str = "not found") -> None:
        super().__init__(message, 404)


class Forbidden(WebError):
    def __init__(self, message: str = "your role in this project does not allow this") -> None:
        super().__init__(message, 403)


class Conflict(WebError):
    def __init__(self, message: str) -> None:
        super().__init__(message, 409)


@dataclass(frozen=True)
class User:
    id: int
    name: str
    is_admin: bool


@dataclass(frozen=True)
class WebSession:
    user: User
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class Member:
    """A user acting in a project: the role decides what they may do, ``coder_id`` where codes go."""

    project: ProjectInfo
    user: User
    role: str
    coder_id: int | None
    coder_name: str | None

    def can(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]


@dataclass(frozen=True)
class CodingView:
    """A coding as the web shows it; ``version`` must come back with an edit."""

    id: int
    incident_id: str
    coder: str
    dimension: str
    code_id: str
    start: int | None
    end: int | None
    memo: str | None
    confidence: float | None
    evidence: list[list[int]]
    round: str | None
    version: str
    mine: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RoundView:
    id: int
    name: str
    status: str
    blind: bool
    created_at: datetime
    closed_at: datetime | None
    incidents: int
    coders: tuple[str, ...]
    participant: bool

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["coders"] = list(self.coders)
        data["created_at"] = self.created_at.isoformat()
        data["closed_at"] = self.closed_at.isoformat() if self.closed_at else None
        return data


@dataclass
class Codebooks:
    """Parsed codebooks by row id: parsing YAML on every request would dominate page time."""

    parsed: dict[int, Codebook] = field(default_factory=dict)
    current: dict[int, tuple[int, str, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def version_of(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _parse_version(version: str) -> datetime:
    try:
        return datetime.fromisoformat(version)
    except (TypeError, ValueError):
        raise WebError(f"not a coding version: {version!r}") from None


def check_user_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 100 or not set(name) <= _NAME_CHARS:
        raise WebError("a user name is 1-100 letters, digits, dots, dashes or underscores")
    if name.lower() in RESERVED_NAMES:
        raise WebError(f"{name!r} is reserved")
    return name


class WebStore:
    """The queries of the web workbench over one covalue database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.dialect = store.engine.dialect.name
        # SQLite has one writer at a time; taking turns in-process avoids "database is locked".
        self._sqlite_writes = threading.Lock() if self.dialect == "sqlite" else None
        self._codebooks = Codebooks()

    # -- transactions -------------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A write transaction (serialized per process on SQLite)."""
        with self._sqlite_writes or nullcontext(), self.store.session() as session:
            yield session

    def reading(self):
        return self.store.session()

    # -- users --------------------------------------------------------------------------------
    def create_user(self, name: str, password: str, *, is_admin: bool = False) -> User:
        name = check_user_name(name)
        password_hash = security.hash_password(password)
        try:
            with self.writing() as session:
                row = UserRow(name=name, password_hash=password_hash, is_admin=is_admin, active=True)
                session.add(row)
                session.flush()
                return User(row.id, row.name, row.is_admin)
        except IntegrityError:
            raise Conflict(f"a user named {name!r} already exists") from None

    def set_password(self, name: str, password: str) -> None:
        password_hash = security.hash_password(password)
        with self.writing() as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                raise NotFound(f"no user {name!r}")
            row.password_hash = password_hash
            session.execute(delete(SessionRow).where(SessionRow.user_id == row.id))

    def users(self) -> list[User]:
        with self.reading() as session:
            rows = session.scalars(select(UserRow).where(UserRow.active).order_by(UserRow.name)).all()
            return [User(r.id, r.name, r.is_admin) for r in rows]

    def user(self, name: str) -> User:
        with self.reading() as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name, UserRow.active))
            if row is None:
                raise NotFound(f"no user {name!r}")
            return User(row.id, row.name, row.is_admin)

    def authenticate(self, name: str, password: str) -> User | None:
        with self.reading() as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name, UserRow.active))
            stored = row.password_hash if row is not None else None
        if not security.verify_password(stored, password) or row is None:
            return None
        return User(row.id, row.name, row.is_admin)

    # -- sessions -----------------------------------------------------------------------------
    def create_session(self, user: User) -> tuple[str, WebSession]:
        """A new session; returns the cookie token (only its hash is stored) and the session."""
        token = security.new_token()
        now = utcnow()
        csrf = security.new_token()
        expires = now + security.SESSION_LIFETIME
        with self.writing() as session:
            session.execute(delete(SessionRow).where(SessionRow.user_id == user.id, SessionRow.expires_at < now))
            session.add(
                SessionRow(
                    token_hash=security.token_hash(token),
                    user_id=user.id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=expires,
                )
            )
        return token, WebSession(user, csrf, expires)

    def session_for(self, token: str | None) -> WebSession | None:
        """The live session of a cookie token; expired or revoked ones are None."""
        if not token:
            return None
        with self.reading() as session:
            found = session.execute(
                select(SessionRow, UserRow)
                .join(UserRow, SessionRow.user_id == UserRow.id)
                .where(SessionRow.token_hash == security.token_hash(token), UserRow.active)
            ).first()
        if found is None:
            return None
        row, user = found
        if row.expires_at <= utcnow():
            self.delete_session(token)
            return None
        return WebSession(User(user.id, user.name, user.is_admin), row.csrf_token, row.expires_at)

    def delete_session(self, token: str) -> None:
        with self.writing() as session:
            session.execute(delete(SessionRow).where(SessionRow.token_hash == security.token_hash(token)))

    def expire_session(self, token: str, when: datetime) -> None:
        """Move a session's expiry (tests use it to check that expiry really logs out)."""
        with self.writing() as session:
            session.execute(
                update(SessionRow).where(SessionRow.token_hash == security.token_hash(token)).values(expires_at=when)
            )

    # -- projects and members -----------------------------------------------------------------
    def create_project(self, owner: User, name: str, description: str | None, codebook: Codebook) -> ProjectInfo:
        project = self.store.create_project(name.strip(), description or None)
        self.store.add_codebook(project, codebook)
        self.set_member(project, owner.name, "owner")
        return project

    def projects_for(self, user: User) -> list[tuple[ProjectInfo, str]]:
        """Projects the user belongs to (an admin sees every project, as owner)."""
        with self.reading() as session:
            query = select(ProjectRow, MemberRow.role).outerjoin(
                MemberRow, and_(MemberRow.project_id == ProjectRow.id, MemberRow.user_id == user.id)
            )
            if not user.is_admin:
                query = query.where(MemberRow.user_id.is_not(None))
            rows = session.execute(query.order_by(ProjectRow.name)).all()
        return [(ProjectInfo(p.id, p.name, p.guid, p.description), role or "owner") for p, role in rows]

    def member(self, user: User, project_id: int) -> Member | None:
        """The user's standing in a project; None for a non-member (who must see nothing)."""
        with self.reading() as session:
            found = session.execute(
                select(ProjectRow, MemberRow.role, MemberRow.coder_id, CoderRow.name)
                .outerjoin(MemberRow, and_(MemberRow.project_id == ProjectRow.id, MemberRow.user_id == user.id))
                .outerjoin(CoderRow, MemberRow.coder_id == CoderRow.id)
                .where(ProjectRow.id == project_id)
            ).first()
        if found is None:
            return None
        project, role, coder_id, coder_name = found
        info = ProjectInfo(project.id, project.name, project.guid, project.description)
        if role is None:
            return Member(info, user, "owner", None, None) if user.is_admin else None
        return Member(info, user, "owner" if user.is_admin else role, coder_id, coder_name)

    def set_member(self, project: ProjectInfo, user_name: str, role: str) -> None:
        """Add a member or change their role; coders and owners get a human coder of their name."""
        if role not in ROLES:
            raise WebError(f"role must be one of {', '.join(ROLES)}")
        user = self.user(user_name)
        coder_id = None
        if role != "viewer":
            try:
                coder_id = self.store.ensure_coder(project, Coder(name=user.name, kind="human"))
            except CovalueError as exc:
                raise Conflict(str(exc)) from None
        with self.writing() as session:
            row = session.get(MemberRow, (project.id, user.id))
            if row is None:
                session.add(MemberRow(project_id=project.id, user_id=user.id, role=role, coder_id=coder_id))
            else:
                row.role = role
                row.coder_id = coder_id or row.coder_id

    def remove_member(self, project: ProjectInfo, user_name: str) -> None:
        user = self.user(user_name)
        with self.writing() as session:
            session.execute(delete(MemberRow).where(MemberRow.project_id == project.id, MemberRow.user_id == user.id))

    def members(self, project: ProjectInfo) -> list[dict[str, Any]]:
        with self.reading() as session:
            rows = session.execute(
                select(UserRow.name, MemberRow.role, CoderRow.name)
                .join(MemberRow, MemberRow.user_id == UserRow.id)
                .outerjoin(CoderRow, MemberRow.coder_id == CoderRow.id)
                .where(MemberRow.project_id == project.id)
                .order_by(UserRow.name)
            ).all()
        return [{"user": u, "role": r, "coder": c} for u, r, c in rows]

    # -- codebook -----------------------------------------------------------------------------
    def codebook(self, project: ProjectInfo) -> tuple[int, Codebook]:
        """The project's current codebook: the one attached last.

        Which one that is gets cached for a few seconds (every save asks; codebooks are
        attached rarely), parsed codebooks for good (a stored snapshot never changes).
        """
        now = time.monotonic()
        with self._codebooks.lock:
            current = self._codebooks.current.get(project.id)
        if current is None or now - current[2] > CODEBOOK_TTL:
            attached = self.store.codebooks(project)
            if not attached:
                raise WebError(f"project {project.name!r} has no codebook yet", 409)
            current = (*attached[-1], now)
            with self._codebooks.lock:
                self._codebooks.current[project.id] = current
        pk, key, _ = current
        with self._codebooks.lock:
            cached = self._codebooks.parsed.get(pk)
        if cached is None:
            cached = self.store.codebook(project, key)[1]
            with self._codebooks.lock:
                self._codebooks.parsed[pk] = cached
        return pk, cached

    # -- incidents ----------------------------------------------------------------------------
    def incident_row(self, member: Member, external_id: str) -> IncidentRow:
        with self.reading() as session:
            row = session.scalar(
                select(IncidentRow).where(
                    IncidentRow.project_id == member.project.id, IncidentRow.external_id == external_id
                )
            )
        if row is None:
            raise NotFound(f"no incident {external_id!r}")
        return row

    def incidents(
        self,
        member: Member,
        *,
        offset: int = 0,
        limit: int = 50,
        search: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> tuple[list[IncidentRow], int]:
        """A page of incidents in import order and the total matching."""
        with self.reading() as session:
            query = select(IncidentRow).where(IncidentRow.project_id == member.project.id)
            if search:
                query = query.where(IncidentRow.text.ilike(f"%{search}%"))
            if ids is not None:
                query = query.where(IncidentRow.external_id.in_(list(ids)))
            total = session.scalar(query.with_only_columns(func.count()).order_by(None)) or 0
            rows = session.scalars(query.order_by(IncidentRow.id).offset(offset).limit(limit)).all()
        return list(rows), total

    def neighbours(self, member: Member, incident_pk: int, round_id: int | None) -> tuple[str | None, str | None]:
        """External ids of the previous and next incident (within the round when one is given)."""
        with self.reading() as session:
            base = select(IncidentRow.external_id).where(IncidentRow.project_id == member.project.id)
            if round_id is not None:
                base = base.join(RoundIncidentRow, RoundIncidentRow.incident_id == IncidentRow.id).where(
                    RoundIncidentRow.round_id == round_id
                )
            previous = session.scalar(base.where(IncidentRow.id < incident_pk).order_by(IncidentRow.id.desc()).limit(1))
            following = session.scalar(base.where(IncidentRow.id > incident_pk).order_by(IncidentRow.id).limit(1))
        return previous, following

    def queue(self, member: Member, limit: int = 50) -> list[dict[str, Any]]:
        """The member's work list: incidents of their open rounds first, then the rest, uncoded ones only."""
        if member.coder_id is None:
            return []
        coded = exists().where(CodingRow.incident_id == IncidentRow.id, CodingRow.coder_id == member.coder_id)
        mine = (
            select(RoundIncidentRow.incident_id, func.min(RoundRow.id).label("round_id"))
            .join(RoundRow, RoundRow.id == RoundIncidentRow.round_id)
            .join(RoundCoderRow, RoundCoderRow.round_id == RoundRow.id)
            .where(
                RoundRow.project_id == member.project.id,
                RoundRow.status == "open",
                RoundCoderRow.coder_id == member.coder_id,
            )
            .group_by(RoundIncidentRow.incident_id)
            .subquery()
        )
        with self.reading() as session:
            rows = session.execute(
                select(IncidentRow.external_id, IncidentRow.text, IncidentRow.source, mine.c.round_id, RoundRow.name)
                .outerjoin(mine, mine.c.incident_id == IncidentRow.id)
                .outerjoin(RoundRow, RoundRow.id == mine.c.round_id)
                .where(IncidentRow.project_id == member.project.id, ~coded)
                .order_by(mine.c.round_id.is_(None), IncidentRow.id)
                .limit(limit)
            ).all()
        return [
            {"external_id": e, "preview": _preview(t), "source": s, "round_id": r, "round": n} for e, t, s, r, n in rows
        ]

    def progress(self, member: Member) -> dict[str, int]:
        with self.reading() as session:
            total = (
                session.scalar(
                    select(func.count()).select_from(IncidentRow).where(IncidentRow.project_id == member.project.id)
                )
                or 0
            )
            done = 0
            if member.coder_id is not None:
                done = (
                    session.scalar(
                        select(func.count(func.distinct(CodingRow.incident_id))).where(
                            CodingRow.coder_id == member.coder_id
                        )
                    )
                    or 0
                )
        return {"incidents": total, "coded_by_me": done}

    # -- visibility ---------------------------------------------------------------------------
    def visible_clause(self, member: Member):
        """SQL condition on ``CodingRow``: may ``member`` see this coding? (the blind-round rule)."""
        coders_of_round = aliased(RoundCoderRow)
        hidden = (
            select(RoundRow.id)
            .join(RoundIncidentRow, RoundIncidentRow.round_id == RoundRow.id)
            .join(coders_of_round, coders_of_round.round_id == RoundRow.id)
            .where(
                RoundRow.project_id == member.project.id,
                RoundRow.status == "open",
                RoundRow.blind.is_(True),
                RoundIncidentRow.incident_id == CodingRow.incident_id,
                coders_of_round.coder_id == CodingRow.coder_id,
            )
        )
        if member.role == "owner" and member.coder_id is not None:
            me = aliased(RoundCoderRow)
            # An owner watching a round may see it unless they code in it themselves.
            hidden = hidden.where(exists().where(me.round_id == RoundRow.id, me.coder_id == member.coder_id))
        elif member.role == "owner":
            hidden = hidden.where(false())
        mine = CodingRow.coder_id == member.coder_id if member.coder_id is not None else false()
        return or_(mine, ~hidden.exists())

    # -- codings ------------------------------------------------------------------------------
    def _coding_query(self, member: Member):
        return (
            select(CodingRow, IncidentRow.external_id, CoderRow.name, RoundRow.name)
            .join(IncidentRow, CodingRow.incident_id == IncidentRow.id)
            .join(CoderRow, CodingRow.coder_id == CoderRow.id)
            .outerjoin(RoundRow, CodingRow.round_id == RoundRow.id)
            .where(IncidentRow.project_id == member.project.id, self.visible_clause(member))
        )

    def _view(self, member: Member, row: CodingRow, external_id: str, coder: str, round_name: str | None) -> CodingView:
        return CodingView(
            id=row.id,
            incident_id=external_id,
            coder=coder,
            dimension=row.dimension,
            code_id=row.code_id,
            start=row.start,
            end=row.end,
            memo=row.memo,
            confidence=row.confidence,
            evidence=[list(s) for s in row.evidence or []],
            round=round_name,
            version=version_of(row.updated_at),
            mine=row.coder_id == member.coder_id,
        )

    def codings_of(self, member: Member, external_id: str) -> list[CodingView]:
        with self.reading() as session:
            rows = session.execute(
                self._coding_query(member).where(IncidentRow.external_id == external_id).order_by(CodingRow.id)
            ).all()
        return [self._view(member, *row) for row in rows]

    def codings(
        self, member: Member, *, coder: str | None = None, offset: int = 0, limit: int = 500
    ) -> list[CodingView]:
        with self.reading() as session:
            query = self._coding_query(member)
            if coder is not None:
                query = query.where(CoderRow.name == coder)
            rows = session.execute(query.order_by(CodingRow.id).offset(offset).limit(limit)).all()
        return [self._view(member, *row) for row in rows]

    def coding(self, member: Member, coding_id: int) -> CodingView:
        with self.reading() as session:
            row = session.execute(self._coding_query(member).where(CodingRow.id == coding_id)).first()
        if row is None:
            raise NotFound(f"no coding {coding_id}")
        return self._view(member, *row)

    def visible_coders(self, member: Member) -> list[dict[str, Any]]:
        """Coders with at least one coding the member may see, with how many incidents."""
        with self.reading() as session:
            rows = session.execute(
                select(CoderRow.name, CoderRow.kind, func.count(func.distinct(CodingRow.incident_id)))
                .join(CodingRow, CodingRow.coder_id == CoderRow.id)
                .where(CoderRow.project_id == member.project.id, self.visible_clause(member))
                .group_by(CoderRow.name, CoderRow.kind)
                .order_by(CoderRow.name)
            ).all()
        return [{"name": n, "kind": k, "incidents": c} for n, k, c in rows]

    def _lock_coder(self, session: Session, coder_id: int) -> None:
        """Serialize one coder's saves (a no-op on SQLite, where the writer lock already does)."""
        session.execute(select(CoderRow.id).where(CoderRow.id == coder_id).with_for_update())

    def _open_round_of(self, session: Session, member: Member, incident_pk: int) -> tuple[int | None, str | None]:
        """The open round (id, name) in which the member codes this incident, if any."""
        found = session.execute(
            select(RoundRow.id, RoundRow.name)
            .join(RoundIncidentRow, RoundIncidentRow.round_id == RoundRow.id)
            .join(RoundCoderRow, RoundCoderRow.round_id == RoundRow.id)
            .where(
                RoundRow.project_id == member.project.id,
                RoundRow.status == "open",
                RoundIncidentRow.incident_id == incident_pk,
                RoundCoderRow.coder_id == member.coder_id,
            )
            .order_by(RoundRow.id)
            .limit(1)
        ).first()
        return (found.id, found.name) if found is not None else (None, None)

    def _check_code(self, codebook: Codebook, dimension: str, code_id: str) -> None:
        if dimension not in codebook.dimension_ids:
            raise WebError(f"the codebook has no dimension {dimension!r}")
        if not codebook.has_code(dimension, code_id):
            raise WebError(f"dimension {dimension!r} has no code {code_id!r}")
        if not codebook.code(dimension, code_id).codable:
            raise WebError(f"{code_id!r} is a grouping; apply one of its children")

    @staticmethod
    def _check_span(start: int | None, end: int | None, text: str) -> None:
        if (start is None) != (end is None):
            raise WebError("a span needs both start and end")
        if start is not None and end is not None and not 0 <= start < end <= len(text):
            raise WebError(f"span [{start}, {end}) is outside the text (length {len(text)})")

    def add_coding(
        self,
        member: Member,
        external_id: str,
        dimension: str,
        code_id: str,
        *,
        start: int | None = None,
        end: int | None = None,
        memo: str | None = None,
        confidence: float | None = None,
        evidence: Sequence[Sequence[int]] = (),
    ) -> CodingView:
        """Apply a code. Incident-level codes of a single-valued dimension replace the previous one;
        applying the same code twice (same span) returns the existing coding."""
        if member.coder_id is None or not member.can("coder"):
            raise Forbidden("only coders and owners who are members can code")
        codebook_pk, codebook = self.codebook(member.project)
        self._check_code(codebook, dimension, code_id)
        with self.writing() as session:
            self._lock_coder(session, member.coder_id)
            incident = session.execute(
                select(IncidentRow.id, IncidentRow.text).where(
                    IncidentRow.project_id == member.project.id, IncidentRow.external_id == external_id
                )
            ).first()
            if incident is None:
                raise NotFound(f"no incident {external_id!r}")
            self._check_span(start, end, incident.text)
            mine = select(CodingRow).where(
                CodingRow.incident_id == incident.id,
                CodingRow.coder_id == member.coder_id,
                CodingRow.codebook_pk == codebook_pk,
                CodingRow.dimension == dimension,
            )
            existing = session.scalars(mine.where(CodingRow.start.is_(None)) if start is None else mine).all()
            same = next((c for c in existing if c.code_id == code_id and c.start == start and c.end == end), None)
            round_id, round_name = self._open_round_of(session, member, incident.id)
            if same is None:
                if start is None and not codebook.is_multi(dimension):
                    for old in existing:
                        session.delete(old)
                now = utcnow()
                key = f"{external_id}/{member.coder_name}/{dimension}/{code_id}"
                if start is not None:
                    key += f"/{start}-{end}"
                same = CodingRow(
                    incident_id=incident.id,
                    coder_id=member.coder_id,
                    codebook_pk=codebook_pk,
                    dimension=dimension,
                    code_id=code_id,
                    start=start,
                    end=end,
                    confidence=confidence,
                    evidence=[list(map(int, s)) for s in evidence],
                    round_id=round_id,
                    memo=memo or None,
                    guid=derived_guid(member.project.guid, "coding", key),
                    created_at=now,
                    updated_at=now,
                )
                session.add(same)
                session.flush()
            elif same.round_id != round_id:
                round_name = session.scalar(select(RoundRow.name).where(RoundRow.id == same.round_id))
            return self._view(member, same, external_id, member.coder_name or "", round_name)

    def update_coding(
        self,
        member: Member,
        coding_id: int,
        version: str,
        *,
        code_id: str | None = None,
        memo: str | None = None,
        start: int | None = None,
        end: int | None = None,
        set_memo: bool = False,
        set_span: bool = False,
    ) -> CodingView:
        """Edit one of the member's own codings if nobody changed it since ``version`` (else 409)."""
        expected = _parse_version(version)
        self._own(member, coding_id)
        _, codebook = self.codebook(member.project)
        with self.writing() as session:
            self._lock_coder(session, member.coder_id)
            found = session.execute(
                select(CodingRow, IncidentRow.external_id, IncidentRow.text, RoundRow.name)
                .join(IncidentRow, CodingRow.incident_id == IncidentRow.id)
                .outerjoin(RoundRow, CodingRow.round_id == RoundRow.id)
                .where(CodingRow.id == coding_id, IncidentRow.project_id == member.project.id)
            ).first()
            if found is None:  # deleted since the check above
                raise NotFound(f"no coding {coding_id}")
            row, external_id, text, round_name = found
            values: dict[str, Any] = {}
            if code_id is not None:
                self._check_code(codebook, row.dimension, code_id)
                values["code_id"] = code_id
            if set_memo:
                values["memo"] = memo or None
            if set_span:
                self._check_span(start, end, text)
                values["start"], values["end"] = start, end
            values["updated_at"] = max(utcnow(), row.updated_at + timedelta(microseconds=1))
            result = session.execute(
                update(CodingRow)
                .where(CodingRow.id == coding_id, CodingRow.updated_at == expected)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                raise Conflict("this coding was changed since you loaded it; reload and try again")
            session.refresh(row)
            return self._view(member, row, external_id, member.coder_name or "", round_name)

    def delete_coding(self, member: Member, coding_id: int, version: str | None = None) -> None:
        self._own(member, coding_id)
        with self.writing() as session:
            query = delete(CodingRow).where(CodingRow.id == coding_id)
            if version is not None:
                query = query.where(CodingRow.updated_at == _parse_version(version))
            if session.execute(query).rowcount != 1:
                raise Conflict("this coding was changed since you loaded it; reload and try again")

    def _own(self, member: Member, coding_id: int) -> CodingView:
        """The member's own coding, or the uniform refusal: 404 for a coding they may not see (missing,
        or hidden by a blind round, so that a refusal never tells a hidden coding exists), and 403
        only for a visible coding that is not theirs to change (or when their role cannot code)."""
        coding = self.coding(member, coding_id)
        if member.coder_id is None or not member.can("coder"):
            raise Forbidden("only coders and owners who are members can code")
        if not coding.mine:
            raise Forbidden("you can only change your own codings")
        return coding

    # -- rounds -------------------------------------------------------------------------------
    def create_round(
        self,
        member: Member,
        name: str,
        coder_names: Sequence[str],
        *,
        incident_ids: Sequence[str] = (),
        sample: int = 0,
        seed: int = 0,
        blind: bool = True,
    ) -> RoundView:
        """Open a round over chosen incidents (or a seeded random sample) for chosen members."""
        if not member.can("owner"):
            raise Forbidden("only a project owner can open a round")
        name = name.strip()
        if not name:
            raise WebError("a round needs a name")
        codebook_pk, _ = self.codebook(member.project)
        members = {m["user"]: m for m in self.members(member.project)}
        coder_ids = []
        for coder_name in dict.fromkeys(coder_names):
            found = members.get(coder_name)
            if found is None or found["role"] == "viewer":
                raise WebError(f"{coder_name!r} is not a coder of this project")
            coder_ids.append(self._coder_id(member.project, found["coder"]))
        if len(coder_ids) < 2:
            raise WebError("a round needs at least two coders")
        with self.reading() as session:
            all_ids = dict(
                session.execute(
                    select(IncidentRow.external_id, IncidentRow.id)
                    .where(IncidentRow.project_id == member.project.id)
                    .order_by(IncidentRow.id)
                ).all()
            )
        if incident_ids:
            unknown = [i for i in incident_ids if i not in all_ids]
            if unknown:
                raise WebError(f"no incident {', '.join(map(repr, unknown[:5]))}")
            chosen = [all_ids[i] for i in dict.fromkeys(incident_ids)]
        elif sample > 0:
            chosen = sorted(random.Random(seed).sample(list(all_ids.values()), min(sample, len(all_ids))))
        else:
            raise WebError("choose incidents or a sample size")
        try:
            with self.writing() as session:
                row = RoundRow(
                    project_id=member.project.id, name=name, status="open", blind=blind, codebook_pk=codebook_pk
                )
                session.add(row)
                session.flush()
                session.add_all([RoundIncidentRow(round_id=row.id, incident_id=pk) for pk in chosen])
                session.add_all([RoundCoderRow(round_id=row.id, coder_id=cid) for cid in coder_ids])
                round_id = row.id
        except IntegrityError:
            raise Conflict(f"a round named {name!r} already exists") from None
        return self.round(member, round_id)

    def _coder_id(self, project: ProjectInfo, coder_name: str) -> int:
        with self.reading() as session:
            coder_id = session.scalar(
                select(CoderRow.id).where(CoderRow.project_id == project.id, CoderRow.name == coder_name)
            )
        if coder_id is None:
            raise NotFound(f"no coder {coder_name!r}")
        return coder_id

    def rounds(self, member: Member) -> list[RoundView]:
        with self.reading() as session:
            ids = session.scalars(
                select(RoundRow.id).where(RoundRow.project_id == member.project.id).order_by(RoundRow.id.desc())
            ).all()
        return [self.round(member, rid) for rid in ids]

    def round(self, member: Member, round_id: int) -> RoundView:
        with self.reading() as session:
            row = session.get(RoundRow, round_id)
            if row is None or row.project_id != member.project.id:
                raise NotFound(f"no round {round_id}")
            n = (
                session.scalar(
                    select(func.count()).select_from(RoundIncidentRow).where(RoundIncidentRow.round_id == round_id)
                )
                or 0
            )
            coders = session.execute(
                select(CoderRow.id, CoderRow.name)
                .join(RoundCoderRow, RoundCoderRow.coder_id == CoderRow.id)
                .where(RoundCoderRow.round_id == round_id)
                .order_by(CoderRow.name)
            ).all()
        return RoundView(
            id=row.id,
            name=row.name,
            status=row.status,
            blind=row.blind,
            created_at=row.created_at,
            closed_at=row.closed_at,
            incidents=n,
            coders=tuple(name for _, name in coders),
            participant=any(cid == member.coder_id for cid, _ in coders),
        )

    def round_incidents(self, member: Member, round_id: int) -> list[str]:
        self.round(member, round_id)
        with self.reading() as session:
            return list(
                session.scalars(
                    select(IncidentRow.external_id)
                    .join(RoundIncidentRow, RoundIncidentRow.incident_id == IncidentRow.id)
                    .where(RoundIncidentRow.round_id == round_id)
                    .order_by(IncidentRow.id)
                ).all()
            )

    def round_progress(self, member: Member, round_id: int) -> dict[str, int]:
        """Per round coder: how many of the round's incidents they coded (counts only, no codes)."""
        self.round(member, round_id)
        with self.reading() as session:
            rows = session.execute(
                select(CoderRow.name, func.count(func.distinct(CodingRow.incident_id)))
                .join(RoundCoderRow, RoundCoderRow.coder_id == CoderRow.id)
                .outerjoin(
                    CodingRow,
                    and_(
                        CodingRow.coder_id == CoderRow.id,
                        CodingRow.incident_id.in_(
                            select(RoundIncidentRow.incident_id).where(RoundIncidentRow.round_id == round_id)
                        ),
                    ),
                )
                .where(RoundCoderRow.round_id == round_id)
                .group_by(CoderRow.name)
                .order_by(CoderRow.name)
            ).all()
        return dict(rows)

    def set_round_status(self, member: Member, round_id: int, status: str) -> RoundView:
        if not member.can("owner"):
            raise Forbidden("only a project owner can close or reopen a round")
        self.round(member, round_id)
        with self.writing() as session:
            row = session.get(RoundRow, round_id)
            assert row is not None
            row.status = status
            row.closed_at = utcnow() if status == "closed" else None
        return self.round(member, round_id)

    def round_codebook(self, member: Member, round_id: int) -> tuple[int, Codebook]:
        with self.reading() as session:
            row = session.get(RoundRow, round_id)
            pk = row.codebook_pk if row is not None else None
            key = None
            if pk is not None:
                cb = session.get(CodebookRow, pk)
                key = f"{cb.codebook_id}@{cb.version}" if cb is not None else None
        if key is None:
            return self.codebook(member.project)
        return pk, self.store.codebook(member.project, key)[1]

    # -- dashboards ---------------------------------------------------------------------------
    def visible_rows(self, member: Member, coder: str, codebook_pk: int, codebook: Codebook) -> dict[str, LabelRow]:
        """One coder's incident-level codes as label rows, limited to what ``member`` may see."""
        with self.reading() as session:
            rows = session.execute(
                select(IncidentRow.external_id, CodingRow.dimension, CodingRow.code_id)
                .join(IncidentRow, CodingRow.incident_id == IncidentRow.id)
                .join(CoderRow, CodingRow.coder_id == CoderRow.id)
                .where(
                    IncidentRow.project_id == member.project.id,
                    CoderRow.name == coder,
                    CodingRow.codebook_pk == codebook_pk,
                    CodingRow.start.is_(None),
                    self.visible_clause(member),
                )
                .order_by(CodingRow.incident_id, CodingRow.id)
            ).all()
        cells: dict[str, dict[str, list[str]]] = {}
        for item, dimension, code in rows:
            if dimension not in codebook.dimension_ids:
                continue
            codes = cells.setdefault(item, {d: [] for d in codebook.dimension_ids})[dimension]
            if code not in codes:
                codes.append(code)
        return {
            item: LabelRow(item_id=item, values={d: tuple(v) for d, v in values.items()})
            for item, values in cells.items()
        }

    def visible_coded(self, member: Member, codebook_pk: int) -> dict[str, set[str]]:
        """Per coder, the incidents whose incident-level codes ``member`` may see.

        Reliability reads codes with ``analysis.reliability.rows_from_store``, which knows nothing
        of blind rounds; its rows are cut down to these sets so that the agreement page shows no
        more than every other page does.
        """
        with self.reading() as session:
            rows = session.execute(
                select(CoderRow.name, IncidentRow.external_id)
                .join(CodingRow, CodingRow.coder_id == CoderRow.id)
                .join(IncidentRow, CodingRow.incident_id == IncidentRow.id)
                .where(
                    IncidentRow.project_id == member.project.id,
                    CodingRow.codebook_pk == codebook_pk,
                    CodingRow.start.is_(None),
                    self.visible_clause(member),
                )
                .distinct()
            ).all()
        found: dict[str, set[str]] = {}
        for coder, item in rows:
            found.setdefault(coder, set()).add(item)
        return found

    def visible_evidence(self, member: Member, coder: str, codebook_pk: int) -> dict[str, dict[str, list[list[int]]]]:
        with self.reading() as session:
            rows = session.execute(
                select(IncidentRow.external_id, CodingRow.dimension, CodingRow.code_id, CodingRow.evidence)
                .join(IncidentRow, CodingRow.incident_id == IncidentRow.id)
                .join(CoderRow, CodingRow.coder_id == CoderRow.id)
                .where(
                    IncidentRow.project_id == member.project.id,
                    CoderRow.name == coder,
                    CodingRow.codebook_pk == codebook_pk,
                    CodingRow.start.is_(None),
                    self.visible_clause(member),
                )
            ).all()
        found: dict[str, dict[str, list[list[int]]]] = {}
        for item, dimension, code, spans in rows:
            if spans:
                found.setdefault(item, {})[f"{dimension}:{code}"] = [list(s) for s in spans]
        return found


def _preview(text: str, length: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1] + "…"
