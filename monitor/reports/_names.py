"""Borrower names in the report: shown by default, masked for reports that leave the risk department."""

from __future__ import annotations

import re

import numpy as np
from numpy.typing import NDArray

__all__ = ["mask_name", "names_of"]

_CJK = re.compile(r"[\u3400-\u9fff]")
# legal forms kept after the mask: 某某公司, 某某厂 ...
_FORMS = ("股份有限公司", "有限责任公司", "有限公司", "公司", "合作社", "事务所", "中心", "商行", "工作室", "厂", "店",
          "Co., Ltd.", "Ltd.", "LLC", "Inc.")


def mask_name(name: str) -> str:
    """张三 -> 张*, 张小明 -> 张**, 杭州宏达科技有限公司 -> 某某公司, John Smith -> J*** S****."""
    text = name.strip()
    if not text:
        return text
    for form in _FORMS:
        if text.endswith(form) and len(text) > len(form):
            return ("某某" if _CJK.search(text) else "*** ") + ("公司" if form.endswith("公司") else form)
    if _CJK.search(text):
        return text[0] + "*" * (len(text) - 1)
    return " ".join(w[0] + "*" * (len(w) - 1) for w in text.split())


def names_of(codes: NDArray[np.int32], texts: list[str], mask: bool) -> list[str | None]:
    """The names of borrowers (codes into ``texts``; -1 or blank: none), masked when asked."""
    out: list[str | None] = []
    for c in codes.tolist():
        t = texts[c].strip() if c >= 0 else ""
        out.append((mask_name(t) if mask else t) if t else None)
    return out
