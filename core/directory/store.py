"""Departments and users in MongoDB. Returns domain objects; `_id` of a user is its username."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from core.batching import BatchReader
from core.directory.models import Department, User
from core.mongo import Database, Document

USER_PROJECTION = {"password_hash": 0}


def user_from_doc(doc: Document) -> User:
    return User(id=doc["_id"], username=doc["username"], name=doc["name"],
                dept_id=doc.get("dept_id"), title=doc.get("title", ""),
                roles=tuple(doc.get("roles", ())), disabled=bool(doc.get("disabled", False)),
                token_version=int(doc.get("token_version", 0)))


def department_from_doc(doc: Document) -> Department:
    return Department(id=doc["_id"], name=doc["name"], parent_id=doc.get("parent_id"),
                      level=doc.get("level", ""), unit=bool(doc.get("unit", False)),
                      head=doc.get("head"), in_charge=doc.get("in_charge"), hr=doc.get("hr"),
                      clerks=tuple(doc.get("clerks", ())),
                      room_managers=tuple(doc.get("room_managers", ())))


class DirectoryStore:
    def __init__(self, db: Database) -> None:
        self._users = db["users"]
        self._departments = db["departments"]
        self._meta = db["meta"]
        # Every socket event and act looks its user up: those arriving together go together.
        self._user_reader = BatchReader(self._users, projection=USER_PROJECTION)

    async def ensure_indexes(self) -> None:
        await self._users.create_index([("dept_id", ASCENDING)])
        await self._users.create_index([("initials", ASCENDING)])
        await self._departments.create_index([("parent_id", ASCENDING)])

    # users -------------------------------------------------------------------------------

    async def get_user(self, user_id: str) -> User | None:
        doc = await self._user_reader.get(user_id)
        return user_from_doc(doc) if doc else None

    async def get_users(self, user_ids: Iterable[str]) -> dict[str, User]:
        ids = list(set(user_ids))
        cursor = self._users.find({"_id": {"$in": ids}}, USER_PROJECTION)
        return {doc["_id"]: user_from_doc(doc) async for doc in cursor}

    async def get_password_hash(self, user_id: str) -> str | None:
        doc = await self._users.find_one({"_id": user_id}, {"password_hash": 1})
        return doc.get("password_hash") if doc else None

    async def get_credentials(self, user_id: str) -> tuple[User | None, str | None]:
        """The user and their password hash, in one read."""
        doc = await self._users.find_one({"_id": user_id})
        if doc is None:
            return None, None
        return user_from_doc(doc), doc.get("password_hash")

    async def set_password_hash(self, user_id: str, password_hash: str) -> User | None:
        """Store a new hash and bump the token version, revoking every token issued before."""
        doc = await self._users.find_one_and_update(
            {"_id": user_id}, {"$set": {"password_hash": password_hash},
                               "$inc": {"token_version": 1}},
            projection=USER_PROJECTION, return_document=ReturnDocument.AFTER)
        return user_from_doc(doc) if doc else None

    async def bump_token_version(self, user_id: str) -> User | None:
        doc = await self._users.find_one_and_update(
            {"_id": user_id}, {"$inc": {"token_version": 1}}, projection=USER_PROJECTION,
            return_document=ReturnDocument.AFTER)
        return user_from_doc(doc) if doc else None

    async def find_users(self, *, dept_ids: list[str] | None, query: str | None,
                         limit: int) -> list[User]:
        conditions: list[dict[str, Any]] = []
        if dept_ids is not None:
            conditions.append({"dept_id": {"$in": dept_ids}})
        if query:
            text = re.escape(query.strip())
            lowered = re.escape(query.strip().lower())
            conditions.append({"$or": [
                {"name": {"$regex": text}},
                {"username": {"$regex": f"^{lowered}"}},
                {"initials": {"$regex": f"^{lowered}"}},
                {"pinyin": {"$regex": f"^{lowered}"}},
            ]})
        conditions.append({"disabled": {"$ne": True}})
        cursor = self._users.find({"$and": conditions}, USER_PROJECTION).sort("_id", 1).limit(limit)
        return [user_from_doc(doc) async for doc in cursor]

    async def active_user_ids(self, dept_ids: list[str]) -> list[str]:
        cursor = self._users.find({"dept_id": {"$in": dept_ids}, "disabled": {"$ne": True}},
                                  {"_id": 1}).sort("_id", 1)
        return [doc["_id"] async for doc in cursor]

    async def get_user_doc(self, user_id: str) -> Document | None:
        return await self._users.find_one({"_id": user_id}, USER_PROJECTION)

    async def all_user_docs(self) -> dict[str, Document]:
        return {doc["_id"]: doc async for doc in self._users.find({}, USER_PROJECTION)}

    async def insert_user(self, doc: Document) -> bool:
        """Insert a new user; False when another writer created the same one first."""
        try:
            await self._users.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def update_user(self, user_id: str, changes: Document, *, revoke: bool) -> None:
        update: Document = {"$set": changes}
        if revoke:
            update["$inc"] = {"token_version": 1}
        await self._users.update_one({"_id": user_id}, update)

    # departments -------------------------------------------------------------------------

    async def all_departments(self) -> list[Department]:
        return [department_from_doc(doc) async for doc in self._departments.find({})]

    async def all_department_docs(self) -> dict[str, Document]:
        return {doc["_id"]: doc async for doc in self._departments.find({})}

    async def upsert_department(self, doc: Document) -> None:
        # A replacement by _id is idempotent, so two importers racing end in the same state.
        try:
            await self._departments.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        except DuplicateKeyError:
            await self._departments.replace_one({"_id": doc["_id"]}, doc)

    # change stamp ------------------------------------------------------------------------

    async def bump_version(self) -> int:
        doc = await self._meta.find_one_and_update(
            {"_id": "directory"}, {"$inc": {"version": 1}}, upsert=True,
            return_document=ReturnDocument.AFTER)
        return int(doc["version"]) if doc else 0

    async def get_version(self) -> int:
        doc = await self._meta.find_one({"_id": "directory"})
        return int(doc["version"]) if doc else 0
