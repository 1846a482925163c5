"""Cards sent by external applications (PROTOCOL §4, OA integration): a request signed with
the application's secret instead of a user's token."""

from __future__ import annotations

import json

from aiohttp import web

from cards.integration.service import AppCardSpec, OAIntegration
from cards.integration.signing import APP_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from cards.models import Action, Input
from core.errors import BadRequest
from signaling.errors import json_response, parse
from signaling.oa_schemas import AppCardRequest


class CardRoutes:
    def __init__(self, integration: OAIntegration) -> None:
        self._integration = integration

    def register(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/cards", self.send_card)

    async def send_card(self, request: web.Request) -> web.Response:
        # The signature covers the raw bytes, so they are read before anything parses them.
        raw = await request.read()
        sender = await self._integration.apps.authenticate(
            request.headers.get(APP_HEADER), request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER), raw)
        try:
            data = json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadRequest(f"body is not valid JSON: {exc}") from exc
        body = parse(AppCardRequest, data)
        sent = await self._integration.do_send_card(sender, to_spec(body))
        return json_response(sent.to_wire(), status=201 if sent.created else 200)


def to_spec(body: AppCardRequest) -> AppCardSpec:
    actions = tuple(
        Action(a.id, a.label, style=a.style,
               inputs=tuple(Input(i.id, i.type, i.required, tuple(i.options or ()))
                            for i in a.inputs))
        for a in body.actions)
    return AppCardSpec(to=tuple(body.to), title=body.title,
                       fields=tuple((f.label, f.value) for f in body.fields), actions=actions,
                       mode=body.mode, actors=None if body.actors is None else tuple(body.actors),
                       external_id=body.external_id)
