"""The AsyncAPI 3 description of the protocol, generated from the msgspec Structs.

`roomful-meetings schema` prints it; docs/asyncapi.json is its committed output, and a test
fails when the two differ. Every endpoint is a `send` operation with a reply (its response
or an error), every push a `receive` operation, all on one channel: the websocket.
"""

from __future__ import annotations

import typing
from importlib.metadata import version
from typing import Any, Final

import msgspec
from msgspec import Struct

from roomful_meetings.protocol import replies
from roomful_meetings.protocol.envelope import ErrorBody, EventRef
from roomful_meetings.protocol.events import EVENTS
from roomful_meetings.service.endpoints import ENDPOINTS

CHANNEL: Final = "websocket"
SCHEMAS: Final = "#/components/schemas/{name}"


# The service returns meetings as the JSON Lua composed (msgspec.Raw), documented as Meeting,
# and findMeetingTimes' suggestions as the JSON it encoded and cached.
DOCUMENTED: Final[dict[object, type[Struct]]] = {
    replies.RawMeetingReply: replies.MeetingReply,
    replies.RawMeetingList: replies.MeetingList,
    replies.RawMeetingTimesReply: replies.MeetingTimesReply,
    replies.RawLegacyReply: replies.LegacyReply,
    replies.RawLegacyList: replies.LegacyList,
}


def message_id(name: str, suffix: str = "") -> str:
    """AsyncAPI keys allow letters, digits, '.', '-' and '_': meeting:getMeeting -> meeting.getMeeting."""
    return name.replace(":", ".") + suffix


def reply_type(handler: Any) -> type[Struct] | None:
    returned: Any = typing.get_type_hints(handler).get("return")
    if returned is None or returned is type(None):
        return None
    documented: type[Struct] = DOCUMENTED.get(returned, returned)
    return documented


def envelope(endpoint: str, data: dict[str, Any], *, event: dict[str, Any], error: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {"endpoint": {"const": endpoint}, "event": event, "data": data}
    required = ["endpoint", "data"]
    if error:
        properties["error"] = {"$ref": SCHEMAS.format(name="ErrorBody")}
        required += ["event", "error"]
    return {"type": "object", "properties": properties, "required": required}


def ref(type_: type[Struct] | None) -> dict[str, Any]:
    return {"type": "null"} if type_ is None else {"$ref": SCHEMAS.format(name=type_.__name__)}


def document() -> dict[str, Any]:
    endpoints = sorted(ENDPOINTS.values(), key=lambda e: (e.name.startswith("admin:"), e.name))
    replies = {e.name: reply_type(e.handler) for e in endpoints}
    types: list[Any] = [ErrorBody, EventRef]
    types += [e.payload for e in endpoints] + [r for r in replies.values() if r is not None]
    types += [payload for payload, _ in EVENTS.values()]
    _, schemas = msgspec.json.schema_components(types, ref_template=SCHEMAS)

    event_ref = {"anyOf": [{"$ref": SCHEMAS.format(name="EventRef")}, {"type": "null"}]}
    pushed_event = {
        "type": "object",
        "properties": {"id": {"type": "string"}, "date": {"type": "string", "format": "date-time"}},
        "required": ["id", "date"],
    }
    messages: dict[str, Any] = {
        "error": {
            "name": "error",
            "title": "Error response",
            "summary": "A request failed: error.status is true, error.code says why (see docs/protocol.md)",
            "payload": envelope("(the request's)", {"type": "null"}, event=event_ref, error=True),
        }
    }
    messages["error"]["payload"]["properties"]["endpoint"] = {"type": ["string", "null"]}
    operations: dict[str, Any] = {}
    channel_ref = {"$ref": f"#/channels/{CHANNEL}"}

    def channel_message(key: str) -> dict[str, str]:
        return {"$ref": f"#/channels/{CHANNEL}/messages/{key}"}

    for e in endpoints:
        request, response = message_id(e.name, ".request"), message_id(e.name, ".response")
        who = "Admin only. " if e.admin else ""
        messages[request] = {
            "name": e.name,
            "title": f"{e.name} request",
            "summary": who + e.summary,
            "payload": envelope(e.name, ref(e.payload), event=event_ref, error=False),
        }
        messages[response] = {
            "name": e.name,
            "title": f"{e.name} response",
            "payload": envelope(e.name, ref(replies[e.name]), event=event_ref, error=True),
        }
        operations[message_id(e.name)] = {
            "action": "send",
            "channel": channel_ref,
            "summary": messages[request]["summary"],
            "messages": [channel_message(request)],
            "reply": {
                "channel": channel_ref,
                "messages": [channel_message(response), channel_message("error")],
            },
        }
    for name, (payload, summary) in EVENTS.items():
        key = message_id(name)
        messages[key] = {
            "name": name,
            "title": name,
            "summary": summary,
            "payload": envelope(name, ref(payload), event=pushed_event, error=True),
        }
        operations[message_id(name, ".receive")] = {
            "action": "receive",
            "channel": channel_ref,
            "summary": summary,
            "messages": [channel_message(key)],
        }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Roomful Meetings",
            "version": version("roomful-meetings"),
            "description": (
                "Meetings, RSVPs, availability and free time slots over one websocket. Each frame is "
                "a JSON object {endpoint, event, data}; every request gets one response frame with "
                "the same endpoint and event echoed back, and the server pushes meeting events to "
                "every connection of each participant. Generated from the server's msgspec Structs "
                "by `roomful-meetings schema`; the human guide is docs/guide.md."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "localhost:8765",
                "protocol": "ws",
                "description": "`roomful-meetings serve` with its defaults",
                "security": [{"$ref": "#/components/securitySchemes/bearer"}],
            }
        },
        "channels": {
            CHANNEL: {
                "address": "/",
                "title": "The websocket of one client connection",
                "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in messages},
                "bindings": {
                    "ws": {
                        "bindingVersion": "0.1.0",
                        "query": {
                            "type": "object",
                            "properties": {
                                "token": {"type": "string", "description": "JWT, if not sent as a header"},
                                "since": {"type": "string", "description": "replay events after this id"},
                                "legacy": {
                                    "type": "string",
                                    "enum": ["1"],
                                    "description": "deprecated events",
                                },
                            },
                        },
                    }
                },
            }
        },
        "operations": operations,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "messages": messages,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": (
                        "Authorization: Bearer <jwt> on the upgrade request (or ?token=). Claims: sub (the"
                        " user), exp, optional email, given_name, family_name, zoneinfo, role (admin), and"
                        " tenant (1-64 of A-Z a-z 0-9 _ -; absent: default), which scopes everything"
                    ),
                }
            },
        },
    }


def render() -> str:
    return msgspec.json.format(msgspec.json.encode(document()), indent=2).decode() + "\n"
