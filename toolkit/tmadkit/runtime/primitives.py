"""Typed check primitives: the only vocabulary a rule's predicate may use.

Rules name these primitives with typed arguments (rules/rule.schema.json lists them);
the generator turns a predicate into nested calls of these functions.  Each returns a
Result whose detail says, in words, what was found: that text reaches the report and
the failing step of a scenario.

Adding a primitive means: a function here, an entry in PRIMITIVES, a definition in
rules/rule.schema.json (a test keeps the two in step).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator, Mapping, Sequence

from .facts import MISSING, get
from .verdict import Result

Facts = Mapping[str, Any]


def _show(value: Any) -> str:
    return "absent" if value is MISSING else repr(value)


# --- combinators -----------------------------------------------------------------

def all_of(*results: Result) -> Result:
    """Every part holds; the detail names the first part that does not."""
    for r in results:
        if not r.ok:
            return r
    return Result(True, "; ".join(r.detail for r in results))


def any_of(*results: Result) -> Result:
    for r in results:
        if r.ok:
            return r
    return Result(False, " and ".join(r.detail for r in results))


def negate(result: Result) -> Result:
    return Result(not result.ok, f"not ({result.detail})")


# --- facts -------------------------------------------------------------------------

def equals(facts: Facts, *, fact: str, value: Any) -> Result:
    actual = get(facts, fact)
    ok = actual is not MISSING and actual == value
    return Result(ok, f"{fact} is {_show(actual)}" + ("" if ok else f", required {value!r}"))


def one_of(facts: Facts, *, fact: str, values: Sequence[Any]) -> Result:
    actual = get(facts, fact)
    ok = actual is not MISSING and actual in values
    return Result(ok, f"{fact} is {_show(actual)}" + ("" if ok else f", required one of {list(values)!r}"))


def present(facts: Facts, *, fact: str) -> Result:
    actual = get(facts, fact)
    ok = actual is not MISSING and actual is not None and actual != ""
    return Result(ok, f"{fact} is {'present' if ok else 'absent'}")


def matches(facts: Facts, *, fact: str, pattern: str) -> Result:
    actual = get(facts, fact)
    ok = isinstance(actual, str) and re.fullmatch(pattern, actual) is not None
    return Result(ok, f"{fact} is {_show(actual)}" + ("" if ok else f", required to match /{pattern}/"))


def same_as(facts: Facts, *, fact: str, other: str) -> Result:
    a, b = get(facts, fact), get(facts, other)
    ok = a is not MISSING and a == b
    return Result(ok, f"{fact} is {_show(a)} and {other} is {_show(b)}" + ("" if ok else ", required equal"))


def row_in(facts: Facts, *, facts_: Sequence[str], rows: Sequence[Sequence[Any]]) -> Result:
    """The tuple of the named facts is one of the table's rows (e.g. Table 8.7.2)."""
    actual = tuple(get(facts, f) for f in facts_)
    ok = any(actual == tuple(row) for row in rows)
    shown = ", ".join(f"{f}={_show(v)}" for f, v in zip(facts_, actual))
    return Result(ok, f"({shown}) is {'a' if ok else 'not a'} row of the table")


# --- file names (TMAD Clause 10.2) ----------------------------------------------------

def _part(facts: Facts, part: Mapping[str, Any]) -> str | None:
    if "literal" in part:
        return str(part["literal"])
    if "fact" in part:
        value = get(facts, part["fact"])
        return None if value is MISSING or value is None else str(value)
    if "join" in part:
        pieces = [_part(facts, p) for p in part["join"]]
        return None if any(p is None for p in pieces) else part.get("separator", "_").join(pieces)
    raise ValueError(f"unknown file-name part {part!r}")


def expected_name(facts: Facts, parts: Sequence[Mapping[str, Any]],
                  separator: str = "_", extension: str = ".xml") -> str | None:
    """The name a `file_name` predicate requires for these facts, or None when a part's
    fact is absent.  Public so that file builders name files from the rule, not from a
    second copy of Table 10.2."""
    pieces = [_part(facts, p) for p in parts]
    if any(p is None for p in pieces):
        return None
    return separator.join(pieces) + extension


def file_name(facts: Facts, *, fact: str, parts: Sequence[Mapping[str, Any]],
              separator: str = "_", extension: str = ".xml") -> Result:
    """The file name equals the name built from the file's own content."""
    actual = get(facts, fact)
    expected = expected_name(facts, parts, separator, extension)
    if expected is None:
        missing = [p.get("fact") for p in parts if _part(facts, p) is None]
        return Result(False, f"cannot build the required name: {', '.join(map(str, missing))} absent")
    ok = actual == expected
    return Result(ok, f"{fact} is {_show(actual)}" + ("" if ok else f", required {expected!r}"))


# --- periods and versions -------------------------------------------------------------

def within_hours(facts: Facts, *, start: str, at: str, hours: int) -> Result:
    """`at` falls in the period of `hours` hours commencing at `start`: start <= at < start + hours.

    The end is exclusive: a period "that has a duration of 336 hours" has ended when 336
    hours have passed.
    """
    s, t = get(facts, start), get(facts, at)
    if s is MISSING or t is MISSING:
        return Result(False, f"{start if s is MISSING else at} is absent")
    s, t = _time(s, start), _time(t, at)
    end = s + timedelta(hours=hours)
    ok = s <= t < end
    return Result(ok, f"{at} {t.isoformat()} is {'within' if ok else 'outside'} the {hours} hours from "
                      f"{start} {s.isoformat()} (to {end.isoformat()})")


def version_values(table: Mapping[str, Mapping[str, Any]], version: str, rule: str) -> Mapping[str, Any]:
    """The rule's values for a document version; a version the rule does not state is an error."""
    try:
        return table[version]
    except KeyError:
        raise ValueError(f"rule {rule} states no values for version {version!r} "
                         f"(it has {', '.join(sorted(table))})") from None


# --- counters (TMAD Clause 5.6, Tables 5.7 and 5.9) ----------------------------------

def _time(value: Any, what: str) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    raise ValueError(f"{what} is {_show(value)}, required an ISO 8601 date-time")


def strictly_increasing(facts: Facts, *, fact: str, key: str, step: int | None = None) -> Result:
    """Each record of the list (in creation order) has a larger `key` than the one before.

    With `step`, each must be exactly the previous plus `step`.
    """
    records = get(facts, fact)
    if records is MISSING or not isinstance(records, list) or not records:
        return Result(False, f"{fact} is {_show(records)}, required a non-empty list")
    values = [r.get(key) if isinstance(r, Mapping) else None for r in records]
    for i in range(1, len(values)):
        prev, cur = values[i - 1], values[i]
        if not (isinstance(prev, int) and isinstance(cur, int)):
            return Result(False, f"{fact}[{i}].{key} is {cur!r} after {prev!r}, required integers")
        if step is not None and cur != prev + step:
            return Result(False, f"{fact}[{i}].{key} is {cur!r} after {prev!r}, required {prev + step!r}")
        if cur <= prev:
            return Result(False, f"{fact}[{i}].{key} is {cur!r} after {prev!r}, required larger")
    return Result(True, f"{fact} {key}s increase: {values!r}")


def counter_fresh(facts: Facts, *, file_type: str, counter: str, party: str,
                  stored: str, at: str, window_days: int) -> Result:
    """The file's counter equals no Stored Counter of the same party created within the window;
    if so, the counter is recorded (Table 5.9: "Should this check succeed ... Create a ...
    Stored Counter") in the same atomic step.

    A live Authenticator's durable store arrives as the fact `context.counters`; a witness
    instead lists the Stored Counters (`stored`), which seed an in-memory store, so both
    run the same SQLite code path.
    """
    from ..stores.counters import CounterStore

    value, party_id = get(facts, counter), get(facts, party)
    if not isinstance(value, int) or isinstance(value, bool):
        return Result(False, f"{counter} is {_show(value)}, required an unsigned integer")
    if party_id is MISSING or party_id in (None, ""):
        return Result(False, f"{party} is absent")
    when = _time(get(facts, at), at)
    live = get(facts, "context.counters", None)
    authenticator = str(get(facts, "authenticator", "witness"))
    if isinstance(live, CounterStore):
        if live.window != timedelta(days=window_days):
            raise ValueError(f"the Authenticator's store keeps {live.window.days} days, the rule {window_days}")
        decision = live.check_and_record(authenticator=authenticator, file_type=file_type,
                                         party_id=str(party_id), counter=value, at=when)
    else:
        store = CounterStore(":memory:", window=timedelta(days=window_days))
        try:
            for item in get(facts, stored, []):
                store.record(authenticator=authenticator, file_type=file_type, party_id=str(party_id),
                             counter=int(item["value"]), created_at=_time(item["created_at"], f"{stored}[].created_at"))
            decision = store.check_and_record(authenticator=authenticator, file_type=file_type,
                                              party_id=str(party_id), counter=value, at=when)
        finally:
            store.close()
    if decision.accepted:
        return Result(True, f"{counter} {value} for {party_id} is not a Stored Counter of the last {window_days} days")
    return Result(False, f"{counter} {value} for {party_id} replays a Stored Counter: {decision.reason}")


from .common_validation import PRIMITIVES as _COMMON_VALIDATION  # noqa: E402 - registered below
from .common_validation import (  # noqa: E402,F401 - generated code calls them as p.<name>
    active_devices_certified, all_devices_active, certificates_valid, cpl_listed, device_types,
    epc_eligible, group_allowed, most_recently_joined, no_failed_checks, no_registration_change,
    not_in_inventory, null_certificate_id, registered_party, same_members, same_party_ids,
    supplier_ids_one_party, wan_contact_within)
from .group_validation import PRIMITIVES as _GROUP_VALIDATION  # noqa: E402 - registered below
from .group_validation import count_items, master_key_for, no_empty_children, populated  # noqa: E402,F401 - as p.<name>
from .files import (  # noqa: E402 - registered below
    certificate_valid, p256_public_keys, signature_verifies, xml_valid, xpath_text)

# The registry the generator and the schema test read.  Values: the function and the
# names of its arguments as they appear in rule files.
PRIMITIVES: dict[str, Callable[..., Result]] = {
    "equals": equals,
    "one_of": one_of,
    "present": present,
    "matches": matches,
    "same_as": same_as,
    "row_in": row_in,
    "file_name": file_name,
    "strictly_increasing": strictly_increasing,
    "counter_fresh": counter_fresh,
    "xml_valid": xml_valid,
    "signature_verifies": signature_verifies,
    "certificate_valid": certificate_valid,
    "xpath_text": xpath_text,
    "p256_public_keys": p256_public_keys,
    "within_hours": within_hours,
    **_COMMON_VALIDATION,   # Table 5.10, Clauses 5.8, 4.34A, 4.44A, 5.12 (common_validation.py)
    **_GROUP_VALIDATION,    # Tables 12.6-16.7: an MGF or MEF entry (group_validation.py)
}
COMBINATORS = {"all": all_of, "any": any_of, "not": negate}


def leaves(pred: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(name, arguments) of every node of a predicate tree that is not a combinator, in order:
    what the tools that read a predicate rather than run it (lint, the SMI lint, the file builder,
    Table 5.10's shape rules) look at.  A state-machine guard has the same all/any/not shape."""
    (name, args), = pred.items()
    if name in ("all", "any"):
        for a in args:
            yield from leaves(a)
    elif name == "not":
        yield from leaves(args)
    else:
        yield name, args

# Rule-file argument names that are Python keywords or would shadow the facts parameter.
ARG_ALIASES = {"facts": "facts_"}
