"""Reading untrusted JSON and CSV text (uploaded lab and breath files) without surprises.

``json.loads`` raises ``RecursionError`` on ``[`` x 100,000 and ``csv`` raises ``csv.Error`` on a
field over 131,072 characters; neither is a ``ValueError``, so a caller that catches only the
usual parse errors turns them into a 500. Here both become the caller's own domain error naming
the offending line, and JSON nesting is limited (a lab or breath file needs a few levels).
"""
from __future__ import annotations

import csv
import io
import json
from typing import Iterator, Optional

#: Deepest nesting an uploaded lab or breath JSON file may have (a FHIR Bundle of Observations
#: needs 6: Bundle > entry > item > resource > code > coding).
MAX_FILE_JSON_DEPTH = 12


def json_depth(value: object) -> int:
    """How deeply objects and arrays nest in a parsed JSON value (a scalar is 0); no recursion.

    Examples
    --------
    >>> json_depth({"a": [1, {"b": []}]})
    4
    """
    depth, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            depth = max(depth, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return depth


def unsafe_json(value: object, *, max_depth: int) -> Optional[tuple[str, str]]:
    """``(path, reason)`` of the first part of a parsed JSON value that code downstream cannot
    safely process, or None: nesting deeper than ``max_depth``, or a string (value or key)
    holding a lone surrogate such as ``"\\ud800"`` (valid JSON, but not encodable as UTF-8, so
    storing or hashing it fails). No recursion. The path reads like ``entry[0].resource.id``.

    Examples
    --------
    >>> unsafe_json({"entry": [{"id": "\\ud800"}]}, max_depth=8)
    ('entry[0].id', 'not valid Unicode text (a lone surrogate)')
    >>> unsafe_json([[[1]]], max_depth=2)
    ('[0][0]', 'nests deeper than 2 levels')
    """
    stack = [(value, "", 1)]
    while stack:
        item, path, level = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                return path or "body", "not valid Unicode text (a lone surrogate)"
        elif isinstance(item, (dict, list)):
            if level > max_depth:
                return path or "body", f"nests deeper than {max_depth} levels"
            if isinstance(item, dict):
                for key, child in item.items():
                    child_path = f"{path}.{key}" if path else str(key)
                    if not _encodable(key):
                        return path or "body", "a key is not valid Unicode text (a lone surrogate)"
                    stack.append((child, child_path, level + 1))
            else:
                stack.extend((child, f"{path}[{index}]", level + 1) for index, child in enumerate(item))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_json_text(text: str, *, error: type[Exception], max_depth: int = MAX_FILE_JSON_DEPTH) -> object:
    """Parse JSON text, raising ``error(message, field="file")`` for anything unusable.

    Refused: invalid JSON, NaN/Infinity, nesting deeper than ``max_depth`` (or deep enough to
    exhaust the parser's stack) and lone surrogates (see :func:`unsafe_json`).

    Examples
    --------
    >>> from tabular_models.errors import LabPanelError
    >>> parse_json_text("[[[]]]", error=LabPanelError, max_depth=2)
    Traceback (most recent call last):
    ...
    tabular_models.errors.LabPanelError: the file nests deeper than 2 levels at [0][0]
    """
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise error(f"the file nests deeper than {max_depth} levels", field="file") from None
    except ValueError as exc:
        raise error(f"the file is not valid JSON: {exc}", field="file") from exc
    problem = unsafe_json(data, max_depth=max_depth)
    if problem is not None:
        raise error(f"the file {problem[1]} at {problem[0]}", field="file")
    return data


def csv_rows(text: str, *, error: type[Exception]) -> Iterator[list[str]]:
    """The rows of CSV text (a leading BOM dropped); ``error(message, field="line N")`` when a
    line cannot be read, e.g. a field over the csv module's 131,072-character limit."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise error(f"CSV line {reader.line_num} cannot be read: {exc}", field=f"line {reader.line_num}") from None
        yield row
