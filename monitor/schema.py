"""JSON Schema of the contract, generated from the pydantic models (the only definition)."""

from __future__ import annotations

import json
from typing import Any

from monitor.events import EVENT_ADAPTER
from monitor.outputs import Alert, BorrowerDetail, BorrowerView, ScheduleEntry

__all__ = ["contract_schema", "schema_json"]


def contract_schema() -> dict[str, Any]:
    """One document: the input events and the outputs."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Post-loan monitor event and output contract",
        "event": EVENT_ADAPTER.json_schema(),
        "alert": Alert.model_json_schema(),
        "schedule_entry": ScheduleEntry.model_json_schema(),
        "borrower": BorrowerView.model_json_schema(),
        "borrower_detail": BorrowerDetail.model_json_schema(),
    }


def schema_json() -> str:
    return json.dumps(contract_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
