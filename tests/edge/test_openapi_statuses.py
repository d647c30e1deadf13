"""The error statuses the served OpenAPI document lists for each operation are ones it can answer.

Beyond what its declaration makes the wrapper answer (authentication, body, path), an operation
answers what its view raises. The test reads each view's source and follows its calls through the
service's own code (parameters and ``self`` typed by their annotations; a method call on an object
it cannot type is followed into every function of that name the service has), collecting the
domain errors (``edge.errors``) made and the statuses ``abort`` is given. A call on a computed
callable (``HANDLERS[kind]()``) makes the operation undecidable, and it is left out.

What it finds is more than a view can raise in practice (paths no request reaches: a session whose
user row is gone), so it cannot say that a status is missing from the document; it can say that a
status listed is one nothing answers. Hence, for every decidable operation: every 4xx listed is
answered by the wrapper or raised by something the view calls (a 409 listed for a logout, which
cannot conflict, fails), and a status declared in ``never_answers`` is raised by nothing it calls.
Its blind spots (a callable kept in an attribute or a dict and called later, an error another
library raises) can only make it find less, which the first check reports as a listed status
nothing answers.
"""
from __future__ import annotations

import ast
import builtins
import inspect
import re
import sys
import textwrap
import typing
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Optional

import pytest
from werkzeug.exceptions import HTTPException

from edge import outbox, patients
from edge.api.operations import OPERATIONS
from edge.errors import Conflict, IldscreenError

# The service's own packages: a call into anything else (Flask, sqlite-utils, the standard library)
# raises none of the service's domain errors.
OWN_PACKAGES = ("edge", "common", "tabular_models", "audio_models", "imaging_client", "firmware_interface")


class Undecidable(Exception):
    """A call the analysis cannot follow."""


def _own(obj) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module.split(".")[0] in OWN_PACKAGES


def _status_of(obj) -> Optional[int]:
    if inspect.isclass(obj) and issubclass(obj, IldscreenError):
        return obj.status
    if inspect.isclass(obj) and issubclass(obj, HTTPException) and obj.code:
        return obj.code
    return None


@lru_cache(maxsize=None)
def _functions_named(name: str) -> tuple[Callable, ...]:
    """Every function and method of that name in the service's loaded modules."""
    found = []
    for module_name, module in list(sys.modules.items()):
        if module is None or module_name.split(".")[0] not in OWN_PACKAGES:
            continue
        for holder in [module, *(value for value in vars(module).values()
                                 if inspect.isclass(value) and value.__module__ == module_name)]:
            candidate = vars(holder).get(name)
            if isinstance(candidate, (staticmethod, classmethod)):
                candidate = candidate.__func__
            if isinstance(candidate, property):
                candidate = candidate.fget
            if inspect.isfunction(candidate) and candidate.__module__ == module_name:
                found.append(candidate)
    return tuple(found)


# What an expression names when it is an object of another library (``request.form``, ``g.user``).
EXTERNAL = object()


@dataclass(frozen=True)
class Instance:
    """An object of the class ``of``, as its annotations say (a parameter, ``self``, a call's result)."""

    of: type


def _instance_of(annotation) -> Optional[object]:
    """An :class:`Instance` of an annotation naming one class (``Optional[X]`` names X), else None."""
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if typing.get_origin(annotation) is typing.Union and len(args) == 1:
        annotation = args[0]
    if not inspect.isclass(annotation):
        return None
    return Instance(annotation) if _own(annotation) else EXTERNAL


def _hints(obj) -> dict:
    try:
        return typing.get_type_hints(obj)
    except Exception:  # noqa: BLE001 - an annotation that does not evaluate says nothing
        return {}


def _returned(function) -> Optional[object]:
    """What calling ``function`` (one of the service's) gives, by its return annotation."""
    if inspect.isclass(function):
        return Instance(function) if _own(function) else EXTERNAL
    return _instance_of(_hints(function).get("return")) if inspect.isfunction(function) else None


def _resolve(node: ast.expr, scope: dict, local: dict):
    """What an expression names: a module, class or function; an :class:`Instance` of one of the
    service's classes; :data:`EXTERNAL` for another library's object and anything of it; None when it
    cannot tell (a local value without an annotation). ``local`` holds the types of local names."""
    if isinstance(node, ast.Name):
        if node.id in local:
            return local[node.id]
        return scope.get(node.id, getattr(builtins, node.id, None))
    if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)):
        callee = _resolve(node.func, scope, local)
        if callee is EXTERNAL:
            return EXTERNAL
        if callee is None and isinstance(node.func, ast.Attribute):
            returns = {_returned(candidate) for candidate in _functions_named(node.func.attr)}
            return returns.pop() if len(returns) == 1 else None
        return _returned(callee)
    if not isinstance(node, ast.Attribute):
        return None
    base = _resolve(node.value, scope, local)
    if base is None or base is EXTERNAL:
        return base
    if isinstance(base, Instance):
        member = inspect.getattr_static(base.of, node.attr, None)
        if isinstance(member, property):
            return _returned(member.fget)
        if member is not None and not isinstance(member, (staticmethod, classmethod)) and not callable(member):
            member = None  # a class-level default: the instance's own value is what is used
        if member is None:
            return _instance_of(_hints(base.of).get(node.attr))
        return member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
    if inspect.ismodule(base) or inspect.isclass(base):
        return getattr(base, node.attr, None)
    return getattr(type(base), node.attr, None) if _own(type(base)) else EXTERNAL


def _local_types(function: Callable, tree: ast.AST) -> dict:
    """The types of ``function``'s parameters (annotations; ``self`` is its class) and of the names
    it assigns once from a call whose result is annotated."""
    local: dict = {}
    parameters = list(inspect.signature(function).parameters)
    holder = function.__globals__.get(function.__qualname__.split(".")[0])
    if parameters and parameters[0] in ("self", "cls") and inspect.isclass(holder) and "." in function.__qualname__:
        local[parameters[0]] = Instance(holder) if parameters[0] == "self" else holder
    for name, annotation in _hints(function).items():
        if name != "return":
            local[name] = _instance_of(annotation)
    assigned = [node for node in ast.walk(tree) if isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)]
    once = {name for name in {node.targets[0].id for node in assigned}
            if sum(node.targets[0].id == name for node in assigned) == 1}
    for node in assigned:
        if node.targets[0].id in once and node.targets[0].id not in local:
            local[node.targets[0].id] = _resolve(node.value, function.__globals__, local)
    return local


def _super_method(function: Callable, callee: ast.expr) -> Optional[Callable]:
    """For ``super().name(...)`` in a method, the method of that name its class inherits."""
    if not (isinstance(callee, ast.Attribute) and isinstance(callee.value, ast.Call)
            and isinstance(callee.value.func, ast.Name) and callee.value.func.id == "super"):
        return None
    holder = function.__globals__.get(function.__qualname__.split(".")[0])
    for klass in (holder.__mro__[1:] if inspect.isclass(holder) else ()):
        if callee.attr in vars(klass):
            return vars(klass)[callee.attr]
    return EXTERNAL


def _own_code(target) -> list[Callable]:
    """The service's functions that run when ``target`` is called."""
    if inspect.isclass(target) and _own(target):
        return [member for member in (vars(target).get("__init__"), vars(target).get("__post_init__"))
                if inspect.isfunction(member)]
    if inspect.ismethod(target):
        target = target.__func__
    return [target] if inspect.isfunction(target) and _own(target) else []


def _callees(function: Callable) -> tuple[set[int], list[Callable]]:
    """The statuses ``function``'s own code raises (a domain error made, or ``abort`` with a status),
    and the service's functions it calls or passes on (a function passed as a value is taken to be
    called: a callable a function is given is followed where it is given)."""
    function = inspect.unwrap(function)  # a decorated function's own code and module
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError):  # generated, as a dataclass's __init__: no code of the service's
        return set(), []
    # Its decorators are not its code: an operation's wrapper is its declaration, which the document's
    # own rules turn into statuses (edge.api.openapi.error_statuses).
    tree.body[0].decorator_list = []
    scope = function.__globals__
    local = _local_types(function, tree)
    statuses, calls = set(), []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, ast.Load):
            calls += _own_code(_resolve(node, scope, local))
            if isinstance(node, ast.Attribute) and isinstance(base := _resolve(node.value, scope, local), Instance):
                member = inspect.getattr_static(base.of, node.attr, None)
                calls += [member.fget] if isinstance(member, property) and _own(member.fget) else []
        if isinstance(node, ast.Raise) and node.exc is not None:
            status = _status_of(_resolve(node.exc, scope, local))  # "raise Conflict": the class itself
            statuses |= {status} if status else set()
        if not isinstance(node, ast.Call):
            continue
        callee = node.func
        if not isinstance(callee, (ast.Name, ast.Attribute)):
            raise Undecidable(f"{function.__qualname__} calls {ast.unparse(callee)}, which it cannot name")
        target = _super_method(function, callee) or _resolve(callee, scope, local)
        if target is not None and getattr(target, "__name__", "") == "abort" and not _own(target):
            first = node.args[0] if node.args else None
            if not (isinstance(first, ast.Constant) and isinstance(first.value, int)):
                raise Undecidable(f"{function.__qualname__} aborts with a status it computes")
            statuses.add(first.value)
        elif (status := _status_of(target)) is not None:
            statuses.add(status)  # an error made (raised here, or kept to raise later)
        elif target is None and isinstance(callee, ast.Attribute):
            calls += _functions_named(callee.attr)  # a method of an object it cannot name: any of that name
        # A name it cannot resolve is a local one: its nested function (walked with it) or a callable it
        # was given (followed where it is given).
    return statuses, calls


@lru_cache(maxsize=None)  # views are module functions: the same for every app a test makes
def raised_statuses(view: Callable) -> frozenset[int]:
    """Every status ``view``, and what it calls in the service's code, can raise (an over-estimate)."""
    statuses, todo, seen = set(), [view], set()
    while todo:
        function = todo.pop()
        if function in seen:
            continue
        seen.add(function)
        found, calls = _callees(function)
        statuses |= found
        todo += calls
    return frozenset(statuses)


def _decided(app) -> dict[tuple[str, str], tuple[object, set[int]]]:
    """Each decidable operation, by (method, rule): the operation and what its view can raise."""
    decided = {}
    for op in OPERATIONS:
        view = inspect.unwrap(app.view_functions[op.endpoint])
        try:
            decided[(op.method.lower(), op.rule)] = (op, raised_statuses(view))
        except Undecidable:
            continue
    return decided


def answered_before_the_view(op) -> set[int]:
    """What ``edge.api.operations.operation``'s wrapper answers before the view runs, from the
    declaration: authentication and role (401, 403), the JSON body (400 not JSON, 413, 415, 422), the
    form (413, 415, 422), the query (422); and routing, 404 for a path whose parameter does not match."""
    statuses = {401, 403} if op.roles is not None else set()
    statuses |= {400, 413, 415, 422} if op.body is not None else set()
    statuses |= {413, 415, 422} if op.form is not None else set()
    statuses |= {422} if op.query is not None else set()
    statuses |= {404} if "<" in op.rule else set()
    return statuses


def _listed(document: dict, op) -> set[int]:
    path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", op.rule)
    return {int(status) for status in document["paths"][path][op.method.lower()]["responses"] if status.startswith("4")}


def test_every_4xx_listed_is_one_the_operation_can_answer(app, client):
    """Read from the served document: a 4xx it lists is answered by the wrapper (the declaration) or
    raised by something the view calls. A 409 listed for a write that nothing can make conflict fails
    here; so does one an operation declares in ``errors`` that nothing raises."""
    document = client.get("/api/v1/openapi.json").json
    decided = _decided(app)
    assert len(decided) > 0.9 * len(OPERATIONS), sorted(set(op.rule for op in OPERATIONS) - {r for _, r in decided})
    unanswerable = [f"{op.method} {op.rule}: {status}"
                    for op, raised in decided.values()
                    for status in sorted(_listed(document, op) - answered_before_the_view(op) - raised)]
    assert not unanswerable, f"listed, but nothing answers it: {unanswerable}"


def test_what_an_operation_declares_it_never_answers_nothing_it_calls_raises(app):
    """``never_answers`` drops a status from the document: nothing the view calls may raise it."""
    decided = _decided(app)
    declared = [(op, raised) for op, raised in decided.values() if op.never_answers]
    assert declared, "some operation declares never_answers"
    for op, raised in declared:
        assert not set(op.never_answers) & raised, (op.method, op.rule, op.never_answers)


def test_logout_and_password_change_list_no_409(client):
    """Brief h97: writes that cannot conflict do not list the generic 409."""
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/auth/logout", "/api/v1/auth/password"):
        assert "409" not in paths[path]["post"]["responses"], path
    assert "409" in paths["/api/v1/referrals/{referral_id}/withdraw"]["post"]["responses"]


def _withdraws(db, actor):
    return outbox.withdraw_referral(db, actor, 1)


def _catches_a_conflict(db, actor, visit_id):
    try:
        return patients.get_visit(db, visit_id)
    except Conflict:
        return None


def _dispatches(kind):
    return {"withdraw": _withdraws}[kind]()


def test_the_analysis_follows_calls_down_counts_errors_made_not_caught_and_gives_up_on_a_dispatch():
    """The analysis itself: a Conflict raised in what a function calls is found (so is the NotFound),
    an error named only to catch it is not one raised, and a call it cannot name is undecidable."""
    assert {404, 409} <= raised_statuses(_withdraws)
    assert raised_statuses(_catches_a_conflict) == {404}
    with pytest.raises(Undecidable):
        raised_statuses(_dispatches)
