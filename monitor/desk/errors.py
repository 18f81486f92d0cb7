"""The desk's error messages as codes: every answer's English ``detail`` (and every case action's note) has a
stable code and parameters, so a page shows it in the user's language from the vocabulary.

:data:`CATALOG` maps a code to the pattern of its English text (named groups are
the parameters). The API adds ``code`` and ``params`` to every error body
(:func:`describe`); the page gets the patterns with the vocabulary (``/vocabulary.json``)
and translates case-action notes the same way. The label templates of the codes
are in :mod:`monitor.vocabulary` (section ``error``); a test keeps the catalog,
the raise sites and the vocabulary in step.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from monitor.events import contract_message
from monitor.vocabulary import Lang, known, label

__all__ = ["CATALOG", "PARAM_SECTIONS", "body", "describe", "localized", "patterns", "validation_items"]

_ID = r"'(?P<id>.*)'"
#: code -> pattern of the English detail (matched in full)
CATALOG: dict[str, str] = {
    "unauthorized": r"a valid bearer token is required",
    "forbidden_role": r"an? (?P<role>\w+) may not (?P<what>.+)",
    "inspector_teams": r"an inspector sees only the schedules of their own teams",
    "borrower_not_found": rf"borrower {_ID} not found",
    "case_not_found": rf"case {_ID} not found",
    "team_not_found": rf"team {_ID} not found \(no borrower has it and the teams file does not list it\)",
    "request_not_found": rf"override request {_ID} not found",
    "report_not_found": rf"report {_ID} not found",
    "report_form_missing": rf"report {_ID} has no (?P<form>\w+) file here",
    "reports_not_kept": r"reports are not kept by this service",
    "feed_not_found": r"no such feed \(an unknown or revoked feed key, or a team the key does not open\)",
    "not_applied": r"not applied: (?P<note>.+)",
    "four_eyes_release": r"four eyes: the approver must not be the officer who requested the release",
    "four_eyes_override": r"four eyes: the approver must not be the officer who requested the override",
    "case_not_open": r"the case is (?P<status>\w+), not open",
    "case_released": r"the case is released",
    "release_needs_ack": r"the case is (?P<status>\w+): only an acknowledged case can be put up for release",
    "no_release_to_approve": r"the case is (?P<status>\w+): no release to approve",
    "no_release_to_reject": r"the case is (?P<status>\w+): no release to reject",
    "role_cannot_approve_release": r"an? (?P<role>\w+) cannot approve a release",
    "role_cannot_reject_release": r"an? (?P<role>\w+) cannot reject another officer's release request",
    "role_cannot_decide_override": r"an? (?P<role>\w+) cannot decide on an override request",
    "cap_needs_approval": r"a cap needs a second officer's approval \(request_override\)",
    "no_pending_request": r"no pending override request (?P<id>.+)",
    "case_missing": r"case (?P<id>.+) not found",
    "alert_id_required": r"alert_id: the case is required",
    "not_case_action": r"(?P<action>\w+) is not a case action",
    "details_invalid": r"details(\.(?P<field>[\w.]+))?: (?P<msg>.+)",
    "request_decided": r"the request is (?P<status>\w+)",
    "override_expired": r"the requested override has already expired",
    "computed_tier_unknown": r"the borrower's computed tier is not known yet: nothing to cap",
    "cap_not_below": r"tier: a cap must be below the computed tier \((?P<tier>\w+)\)",
    "floor_tier": r"tier: a floor must be watch, warning or severe",
    "override_clear_fields": r"tier, until: not allowed when clearing",
    "override_set_fields": r"tier, until: required to set an override",
    "until_past": r"until: must be in the future",
    "until_too_far": r"until: at most (?P<days>\d+) days ahead for a (?P<direction>\w+)",
    "no_team_yet": r"the borrower has no inspection team yet",
    "visit_future": r"visited_at: must not be in the future",
    "visit_too_old": r"visited_at: at most (?P<days>\d+) days ago",
    "start_after_end": r"start: must not be after end",
    "end_too_far": r"end: at most (?P<days>\d+) days after today",
    "request_id_format": r"X-Request-ID: 1 to 128 characters of A-Z a-z 0-9 \. _ : -",
    "request_id_reused": r"X-Request-ID: already used for a different change",
    "kafka_unavailable": r"Kafka did not take the change; send the same request again with the same X-Request-ID",
    "body_not_json": r"request body: not JSON in UTF-8",
    "body_too_large": r"request body larger than (?P<bytes>\d+) bytes",
    "content_length": r"Content-Length: not a number",
    "path_control": r"path: control character (?P<char>U\+[0-9A-F]{4}) not allowed",
    "unknown_query": r"unknown query parameter\(s\) (?P<names>.+); this operation takes: (?P<allowed>.+)",
    "query_repeated": r"(?P<field>.+): given more than once",
    "cursor_invalid": r"cursor: not a cursor this service gave out",
    "bulk_too_many": r"case_ids: at most (?P<n>\d+) cases at once",
    "assignee_required": r"assignee: required to assign",
    "assignee_only_assign": r"assignee: only to assign",
    "export_too_large": r"(?P<n>\d+) rows match: an export holds at most (?P<max>\d+); narrow the filters",
}
_COMPILED = {code: re.compile(pattern) for code, pattern in CATALOG.items()}


def describe(detail: Any) -> tuple[str | None, dict[str, str]]:
    """The code and parameters of an English detail (None when no entry matches, or for a list of errors)."""
    if not isinstance(detail, str):
        return None, {}
    for code, pattern in _COMPILED.items():
        m = pattern.fullmatch(detail)
        if m is not None:
            return code, {k: v for k, v in m.groupdict().items() if v is not None}
    return None, {}


def body(detail: Any) -> dict[str, Any]:
    """An error body: ``detail`` (English), and ``code`` and ``params`` when the catalog knows the text."""
    code, params = describe(detail)
    out: dict[str, Any] = {"detail": detail}
    if code is not None:
        out["code"], out["params"] = code, params
    return out


_NUMBER = ("int_", "float_", "greater_than", "less_than", "finite_number", "multiple_of", "decimal_")


def _kind(err: Any) -> tuple[str, dict[str, str]]:
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    special = contract_message(err)
    if special is not None:
        if kind == "string_pattern_mismatch":
            char = special.split(" ")[2] if special.startswith("control character U+") else "?"
            return "control", {"char": char}
        return "out_of_range", {}
    if kind in ("missing", "string_too_short", "extra_forbidden", "timezone_aware"):
        return kind, {}
    if kind == "string_too_long":
        return kind, {"max_length": str(ctx.get("max_length", ""))}
    if kind in ("literal_error", "enum"):
        return "literal_error", {}
    if kind.startswith("datetime"):
        return "datetime", {}
    if kind.startswith("date"):
        return "date", {}
    if kind.startswith(_NUMBER):
        return "number", {}
    return "other", {}


def validation_items(errors: Iterable[Any]) -> list[dict[str, Any]]:
    """A 422's items: where (``loc``), the English message, pydantic's ``type``, and the ``code`` and ``params``
    of the vocabulary's ``validation`` section (``field``: the last part of ``loc``)."""
    out = []
    for err in errors:
        loc = [str(x) for x in err.get("loc", ())]
        msg = contract_message(err) or str(err.get("msg", "invalid")).removeprefix("Value error, ")
        code, params = _kind(err)
        field = next((p for p in reversed(loc) if not p.isdigit()), "body")
        out.append({"loc": loc, "msg": msg, "type": str(err.get("type", "")), "code": code,
                    "params": {"field": field, **params}})
    return out


# parameters that are codes themselves: labelled from these vocabulary sections
PARAM_SECTIONS = {"status": "case_status", "role": "user_role", "tier": "tier", "direction": "override_direction",
                  "action": "audit_action", "field": "field"}


def localized(detail: str | None, lang: Lang) -> str | None:
    """The detail (or a case action's note) in ``lang`` from the vocabulary; as it is when no code matches."""
    if detail is None:
        return None
    code, params = describe(detail)
    if code is None or not known("error", code):
        return detail
    shown = {k: (localized(v, lang) or v) if k == "note" else label(PARAM_SECTIONS[k], v, lang)
             if k in PARAM_SECTIONS else v for k, v in params.items()}
    try:
        return label("error", code, lang).format(**shown)
    except (KeyError, IndexError, ValueError):
        return label("error", code, lang)


def patterns() -> list[tuple[str, str]]:
    """``(code, pattern)`` for a page (JavaScript syntax: ``(?<name>...)`` groups), in matching order."""
    return [(code, "^(?:" + pattern.replace("(?P<", "(?<") + ")$") for code, pattern in CATALOG.items()]
