"""Import of the `xietong-directory/1` format: validate the whole file, then write only what
changed. Importing the same file twice changes nothing; a re-import never resets a password."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.auth.passwords import hash_password
from core.directory.models import Role
from core.directory.pinyin import pinyin_keys
from core.directory.store import DirectoryStore
from core.errors import BadRequest
from core.mongo import Document

FORMAT = "xietong-directory/1"
_MAX_PROBLEMS = 20


class DeptRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=200)
    parent_id: str | None = None
    level: str = ""
    unit: bool = False
    head: str | None = None
    in_charge: str | None = None
    hr: str | None = None
    clerks: list[str] = []
    room_managers: list[str] = []


class UserRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    name: str = Field(min_length=1, max_length=100)
    dept_id: str | None = None
    title: str = ""
    roles: list[Role] = [Role.STAFF]
    password: str | None = Field(default=None, min_length=1, max_length=256)
    disabled: bool = False


class DirectoryFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["xietong-directory/1"]
    departments: list[DeptRecord]
    users: list[UserRecord]


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def to_wire(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@dataclass
class ImportResult:
    departments: Counts = field(default_factory=Counts)
    users: Counts = field(default_factory=Counts)
    disabled: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any((self.departments.created, self.departments.updated, self.users.created,
                    self.users.updated))

    def to_wire(self) -> dict[str, Any]:
        return {
            "created": self.departments.created + self.users.created,
            "updated": self.departments.updated + self.users.updated,
            "unchanged": self.departments.unchanged + self.users.unchanged,
            "departments": self.departments.to_wire(),
            "users": self.users.to_wire(),
        }


def parse_directory_file(raw: Any) -> DirectoryFile:
    try:
        parsed = DirectoryFile.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise BadRequest(f"invalid directory file: {problems[0]}",
                         {"problems": problems[:_MAX_PROBLEMS]}) from exc
    problems = _check_references(parsed)
    if problems:
        raise BadRequest(f"invalid directory file: {problems[0]}",
                         {"problems": problems[:_MAX_PROBLEMS]})
    return parsed


def _check_references(data: DirectoryFile) -> list[str]:
    problems: list[str] = []
    dept_ids = [d.id for d in data.departments]
    known_depts = set(dept_ids)
    if len(known_depts) != len(dept_ids):
        problems.append("departments: duplicate id")
    usernames = [u.username for u in data.users]
    known_users = set(usernames)
    if len(known_users) != len(usernames):
        problems.append("users: duplicate username")
    parents = {d.id: d.parent_id for d in data.departments}
    for dept in data.departments:
        if dept.parent_id is not None and dept.parent_id not in known_depts:
            problems.append(f"departments.{dept.id}.parent_id: unknown department {dept.parent_id}")
        people = [dept.head, dept.in_charge, dept.hr, *dept.clerks, *dept.room_managers]
        for person in people:
            if person is not None and person not in known_users:
                problems.append(f"departments.{dept.id}: unknown user {person}")
        seen, current = {dept.id}, dept.parent_id
        while current is not None and current in parents:
            if current in seen:
                problems.append(f"departments.{dept.id}: parent chain has a cycle")
                break
            seen.add(current)
            current = parents[current]
    for user in data.users:
        if user.dept_id is not None and user.dept_id not in known_depts:
            problems.append(f"users.{user.username}.dept_id: unknown department {user.dept_id}")
    return problems


def _dept_doc(record: DeptRecord) -> Document:
    doc = record.model_dump()
    doc["_id"] = doc.pop("id")
    return doc


def _user_fields(record: UserRecord) -> Document:
    full, initials = pinyin_keys(record.name)
    return {"username": record.username, "name": record.name, "dept_id": record.dept_id,
            "title": record.title, "roles": [str(r) for r in record.roles],
            "disabled": record.disabled, "pinyin": full, "initials": initials}


class DirectoryImporter:
    def __init__(self, store: DirectoryStore, *, password_hash_n: int,
                 hasher: Callable[[str, int], str] | None = None) -> None:
        self._store = store
        self._hash_n = password_hash_n
        self._hasher = hasher or (lambda password, n: hash_password(password, n=n))

    async def apply(self, data: DirectoryFile) -> ImportResult:
        result = ImportResult()
        existing_depts = await self._store.all_department_docs()
        for dept in data.departments:
            doc = _dept_doc(dept)
            before = existing_depts.get(dept.id)
            if before == doc:
                result.departments.unchanged += 1
                continue
            await self._store.upsert_department(doc)
            if before is None:
                result.departments.created += 1
            else:
                result.departments.updated += 1

        existing_users = await self._store.all_user_docs()
        hashes = await self._initial_hashes(data, existing_users)
        for record in data.users:
            fields = _user_fields(record)
            before = existing_users.get(record.username)
            if before is None:
                doc = {"_id": record.username, **fields, "token_version": 0,
                       "password_hash": hashes.get(record.password or "")}
                if await self._store.insert_user(doc):
                    result.users.created += 1
                    continue
                # Another importer created it a moment ago: fall through to an update.
                before = await self._store.get_user_doc(record.username) or {}
            changes = {k: v for k, v in fields.items() if before.get(k) != v}
            if not changes:
                result.users.unchanged += 1
                continue
            newly_disabled = record.disabled and not before.get("disabled", False)
            await self._store.update_user(record.username, changes, revoke=newly_disabled)
            if newly_disabled:
                result.disabled.append(record.username)
            result.users.updated += 1

        if result.departments.created or result.departments.updated or result.users.created \
                or result.users.updated:
            await self._store.bump_version()
        return result

    async def _initial_hashes(self, data: DirectoryFile,
                              existing: dict[str, Document]) -> dict[str, str]:
        # Initial passwords are handed out in the file itself, so the people who share one may
        # share its hash until they change it; hashing each distinct one once keeps a
        # 2,000-person import to seconds at the production scrypt cost.
        wanted = {u.password for u in data.users if u.password and u.username not in existing}
        loop = asyncio.get_running_loop()
        hashes = {}
        for password in wanted:
            hashes[password] = await loop.run_in_executor(None, self._hasher, password,
                                                          self._hash_n)
        return hashes
