"""Primitives of the Migration Group (Encrypted) File data validation tables (TMAD Tables 12.6,
12.7, 13.9, 14.7, 14.8 and 16.7): checks of one SMETS1Installation's entry in an MGF or MEF.

They read the entry as `tmadkit.group_validation.extract` gives it (facts named after the
elements: `entry.EncryptedMasterKey` is a list of {EncryptedKey, DeviceID: [...]},
`entry.SUAKeyDetails` a list of {child element name: text}, `entry.CHFDetail` a mapping) and the
MCF's installation (`installation`, as Table 5.10's extraction gives it), so the same functions
judge a witness's literal facts and a real file's.
"""
from __future__ import annotations

from typing import Any, Mapping

from .facts import MISSING, get
from .verdict import Result

Facts = Mapping[str, Any]


def _items(facts: Facts, fact: str) -> list | None:
    value = get(facts, fact)
    if value is MISSING or value is None:
        return []               # an entry without the element has none of them
    return value if isinstance(value, list) else None


def count_items(facts: Facts, *, fact: str, where: Mapping[str, Any] | None = None,
                where_not: Mapping[str, Any] | None = None, min: int | None = None,
                max: int | None = None) -> Result:
    """The number of items of the list `fact` that match `where` (every field equal) and not
    `where_not` (some field different) lies within [min, max]."""
    items = _items(facts, fact)
    if items is None:
        return Result(False, f"{fact} is not a list")

    def selected(item: Any) -> bool:
        if not isinstance(item, Mapping):
            return False
        if where and any(item.get(k) != v for k, v in where.items()):
            return False
        return not (where_not and all(item.get(k) == v for k, v in where_not.items()))

    n = sum(1 for item in items if selected(item))
    which = fact + (f" with {_fields(where)}" if where else "") + (f" other than {_fields(where_not)}" if where_not else "")
    ok = (min is None or n >= min) and (max is None or n <= max)
    return Result(ok, f"{n} {which}" + ("" if ok else f", required {_bounds(min, max)}"))


def _fields(fields: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v!r}" for k, v in fields.items())


def _bounds(low: int | None, high: int | None) -> str:
    if low is not None and low == high:
        return f"exactly {low}"
    if high is None:
        return f"at least {low}"
    return f"at most {high}" if low is None else f"{low} to {high}"


def no_empty_children(facts: Facts, *, fact: str) -> Result:
    """No item of the list `fact` (one element's children as {name: text}) has an empty child.

    Text is compared after stripping XML white space: the Base64 children's values collapse
    it away, so an element holding only white space has no value, like an empty one."""
    items = _items(facts, fact)
    if items is None:
        return Result(False, f"{fact} is not a list")
    for i, item in enumerate(items):
        for name, text in (item.items() if isinstance(item, Mapping) else ()):
            if not isinstance(text, str) or not text.strip():
                kind = item.get("DeviceType") or "no DeviceType"
                return Result(False, f"{fact}[{i + 1}] ({kind}): {name} is empty")
    return Result(True, f"no empty child in the {len(items)} item(s) of {fact}")


def master_key_for(facts: Facts, *, keys: str, device: str) -> Result:
    """Some EncryptedMasterKey of the list `keys` lists the DeviceID at `device` (the MCF's) and
    holds a non-empty EncryptedKey."""
    items = _items(facts, keys)
    device_id = get(facts, device)
    if items is None:
        return Result(False, f"{keys} is not a list")
    if device_id is MISSING or not device_id:
        return Result(False, f"{device} is absent: no DeviceID to look for")
    for item in items:
        if isinstance(item, Mapping) and device_id in (item.get("DeviceID") or []):
            if str(item.get("EncryptedKey") or "").strip():
                return Result(True, f"an EncryptedMasterKey with an EncryptedKey lists {device} {device_id}")
            return Result(False, f"the EncryptedMasterKey listing {device} {device_id} has no EncryptedKey")
    return Result(False, f"no EncryptedMasterKey of the {len(items)} in {keys} lists {device} {device_id}")


def _unpopulated(value: Any, path: str) -> str | None:
    """Where `value` is not populated, in words; None if it is."""
    if value is MISSING or value is None:
        return f"{path} is absent"
    if isinstance(value, Mapping):
        if not value:
            return f"{path} has no child element"
        return next((why for k, v in value.items() if (why := _unpopulated(v, f"{path}.{k}"))), None)
    return None if str(value).strip() else f"{path} is empty"


def populated(facts: Facts, *, fact: str) -> Result:
    """The element is present and populated: it has text other than white space, or children
    that all have (Tables 12.6 and 14.7: "present and populated validly")."""
    why = _unpopulated(get(facts, fact), fact)
    return Result(why is None, why or f"{fact} is present and populated")


PRIMITIVES = {"count_items": count_items, "no_empty_children": no_empty_children,
              "master_key_for": master_key_for, "populated": populated}
