"""Jinja2's sandbox with bounds: a template may not stall the server or fill its memory.

The stock sandbox keeps templates away from Python objects, but a template may still loop for
minutes (nested loops) or make huge values (`{{ "x" * 20000000 }}`). `BoundedSandbox` checks,
while a template renders (`render_bounded`):

- every value it makes (by `*`, `+`, `%`, `~`, a filter or a call) against `Limits.max_value`,
  *before* making it where Python would allocate it at once (a string repeated, a width, a join);
- loop iterations and calls against `Limits.max_steps` (compiled templates count each loop
  iteration: `_Guards` wraps every `for` loop's iterable);
- the characters it made in all, against `Limits.max_work` (memory, however it is spread);
- the output against `Limits.max_output` (chunk by chunk where loops or macros can repeat text;
  other templates are bounded by their source and the values they print, so once at the end);
- the clock, at every one of those points, against `Limits.seconds`.

A template that breaks one raises `TemplateLimitError` naming the limit. The checks are cheap
(a counter and a clock read per step): about 8 µs per message of a typical campaign, next to
about 1.2 ms of the sender's CPU per message.
"""

from __future__ import annotations

import re
import time
import types
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sized
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any, cast

from jinja2 import Template, nodes, pass_context, pass_eval_context
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, _PassArg
from jinja2.visitor import NodeTransformer

# Integers a template makes stay printable (Python refuses str() of more than 4,300 digits).
_MAX_INT_BITS = 14_000
# tojson's indent: a larger one only multiplies the output.
_MAX_JSON_INDENT = 16
_PRINTF_WIDTH = re.compile(r"%[#0 +\-]*(\d+)?(?:\.(\d+))?")
_FORMAT_SPEC_NUMBER = re.compile(r"\d+")
_NESTED_FIELD = re.compile(r"\{[^{}]*:[^{}]*\{")
_monotonic = time.monotonic
_BINOP_RESULTS = {operator: f"the result of {operator}" for operator in ("*", "**", "+", "%")}


class TemplateLimitError(Exception):
    """A template went past one of the limits; `limit` names which, the message says how."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit, self.message = limit, message


@dataclass(frozen=True)
class Limits:
    """What one rendering of one template may take."""

    seconds: float
    max_output: int = 2_000_000  # characters of the rendered text
    max_value: int = 1_000_000  # characters (or items) of any one value the template makes
    max_work: int = 20_000_000  # characters and items made in all, while rendering
    max_steps: int = 100_000  # loop iterations and calls


class Budget:
    """What a rendering has used so far."""

    __slots__ = ("deadline", "limits", "steps", "work")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds
        self.steps = 0
        self.work = 0

    def step(self) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise TemplateLimitError(
                "max_steps", f"more than {self.limits.max_steps:,} loop iterations and calls"
            )
        if _monotonic() > self.deadline:
            self.check_time()

    def charge(self, size: int) -> None:
        self.work += size
        if self.work > self.limits.max_work:
            raise TemplateLimitError(
                "max_work", f"it makes more than {self.limits.max_work:,} characters in all"
            )
        if _monotonic() > self.deadline:
            self.check_time()

    def check_time(self) -> None:
        if _monotonic() > self.deadline:
            raise TemplateLimitError("seconds", f"it renders for longer than {self.limits.seconds:g} s")

    def loop(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.step()
            yield item


# The budget of the rendering under way in this thread of control: the sandbox's hooks (filters,
# finalize) have no other way to it. None while compiling (constant folding): checks only.
_CURRENT: ContextVar[Budget | None] = ContextVar("template_budget", default=None)
_WHILE_COMPILING = Limits(seconds=0)


@dataclass(frozen=True)
class BoundedTemplate:
    """A compiled template, and whether its text can repeat (loops, macros, call blocks)."""

    template: Template
    repeats: bool


def render_bounded(bounded: BoundedTemplate, context: Mapping[str, Any], limits: Limits) -> str:
    """Render a template of a `BoundedSandbox`; raises TemplateLimitError past a limit."""
    budget = Budget(limits)
    token = _CURRENT.set(budget)
    try:
        if not bounded.repeats:
            # Its constant text is the source's, and every value it prints was checked and
            # charged: the whole output is bounded already, so it is measured once, at the end.
            text = bounded.template.render(context)
            _check_output(len(text), limits)
            return text
        return _render_counted(bounded.template, context, limits)
    except RecursionError:
        raise TemplateLimitError("recursion", "it calls itself too deeply") from None
    finally:
        _CURRENT.reset(token)


def _render_counted(template: Template, context: Mapping[str, Any], limits: Limits) -> str:
    """Chunk by chunk: text in a loop's body is output without passing any other check."""
    chunks = cast(Generator[str, None, None], template.generate(context))
    try:
        parts: list[str] = []
        keep = parts.append
        size = 0
        for chunk in chunks:
            size += len(chunk)
            _check_output(size, limits)
            keep(chunk)
        return "".join(parts)
    finally:
        chunks.close()


def _check_output(size: int, limits: Limits) -> None:
    if size > limits.max_output:
        raise TemplateLimitError(
            "max_output", f"the text it renders is longer than {limits.max_output:,} characters"
        )


def weight(value: Any, limit: int) -> int:
    """About how many characters `value` becomes as text, counted only up to just past `limit`
    (a list of a million references to one long string is small in memory, but not as text)."""
    if value.__class__ is str:  # by far the most common: first, and fast
        return len(value)
    if not isinstance(value, list | tuple | dict | set | frozenset | Namespace):
        return _scalar_weight(value)
    total, pending = 0, list[Any]([value])
    while pending and total <= limit:
        item = pending.pop()
        total += 2  # quotes or brackets, and a separator
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, Namespace):
            pending.append(object.__getattribute__(item, "_Namespace__attrs"))
        elif isinstance(item, list | tuple | set | frozenset):
            pending.extend(item)
        else:
            total += _scalar_weight(item)
    return total


def _scalar_weight(value: Any) -> int:
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, int):
        return value.bit_length() // 3 + 1  # about its decimal digits
    return 8


def _value_limit(budget: Budget | None) -> int:
    return (budget.limits if budget is not None else _WHILE_COMPILING).max_value


def _check(size: int, limit: int, what: str) -> None:
    if size > limit:
        raise TemplateLimitError("max_value", f"{what} would be longer than {limit:,} characters")


def _made(value: Any, budget: Budget | None, limit: int, what: str) -> Any:
    """A value the template made: within the value limit, and charged to the budget."""
    size = len(value) if value.__class__ is str else weight(value, limit)
    _check(size, limit, what)
    if budget is not None:
        budget.charge(size)
    return value


def _as_list(value: Any) -> Any:
    """Iterators (a `map` filter's) become lists, so they can be measured; others stay."""
    return value if isinstance(value, Sized) else list(value)


def _printf_widths(template: str) -> int:
    """The widths and precisions of a printf-style format string, added up."""
    return sum(int(w or 0) + int(p or 0) for w, p in _PRINTF_WIDTH.findall(template))


def _format_widths(template: str) -> int:
    """The numbers in a str.format string's replacement fields, added up (widths, precisions)."""
    total = 0
    for field in re.findall(r"\{[^{}]*\}", template):
        _, _, spec = field.partition(":")
        total += sum(int(n) for n in _FORMAT_SPEC_NUMBER.findall(spec))
    return total


def _replaced_size(text: str, old: str, new: str, count: int | None) -> int:
    found = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        found = min(found, count)
    return len(text) + found * max(0, len(new) - len(old))


def _lines(text: str) -> int:
    return text.count("\n") + 1


# --- filters: the size each would make, estimated before it makes it -------------------------


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str, default: Any) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _sequence_estimate(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int) -> int:
    """batch and slice: the fill value may be repeated up to `count` times."""
    count, fill = _arg(args, kwargs, 0, "linecount", 1), _arg(args, kwargs, 1, "fill_with", None)
    if not isinstance(count, int):
        return 0
    filled = count * weight(fill, limit) if fill is not None else 0
    return max(count, filled + weight(value, limit))


def _estimate_center(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int) -> int:
    width = _arg(args, kwargs, 0, "width", 80)
    return max(len(_text(value)), width if isinstance(width, int) else 0)


def _estimate_indent(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int) -> int:
    text, width = _text(value), _arg(args, kwargs, 0, "width", 4)
    per_line = width if isinstance(width, int) else len(_text(width))
    return len(text) + _lines(text) * per_line


def _estimate_replace(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int) -> int:
    old, new = _text(_arg(args, kwargs, 0, "old", "")), _text(_arg(args, kwargs, 1, "new", ""))
    count = _arg(args, kwargs, 2, "count", None)
    return _replaced_size(_text(value), old, new, count if isinstance(count, int) else None)


def _estimate_join(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int) -> int:
    separator = _text(_arg(args, kwargs, 0, "d", ""))
    return weight(value, limit) + len(separator) * len(value)


def _estimate_format(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int) -> int:
    text = _text(value)
    return len(text) + _printf_widths(text) + weight(args, limit) + weight(dict(kwargs), limit)


def _estimate_wordwrap(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int) -> int:
    text, width = _text(value), _arg(args, kwargs, 0, "width", 79)
    wrap = _text(_arg(args, kwargs, 2, "wrapstring", None) or "\n")
    breaks = len(text) // max(1, width if isinstance(width, int) else 1) + _lines(text)
    return len(text) + breaks * len(wrap)


def _estimate_urlize(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int) -> int:
    text = _text(value)
    extra = sum(len(_text(kwargs.get(name) or "")) for name in ("target", "rel"))
    return 3 * len(text) + (len(text) // 4 + 1) * (extra + 40)


def _estimate_truncate(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int) -> int:
    return len(_text(value)) + len(_text(_arg(args, kwargs, 2, "end", "...")))


def _estimate_tojson(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int) -> int:
    indent = _arg(args, kwargs, 0, "indent", None)
    if indent is not None and (not isinstance(indent, int) or indent > _MAX_JSON_INDENT):
        raise TemplateLimitError("max_value", f"tojson indents by at most {_MAX_JSON_INDENT}")
    return 6 * weight(value, limit)


def _estimate_sum(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int) -> int:
    # Adding up lists copies the growing total every time: quadratic in their number.
    items = list(value)
    if items and isinstance(items[0], list | tuple | str):
        return len(items) * weight(items, limit)
    return len(items)


_Estimate = Callable[[Any, tuple[Any, ...], Mapping[str, Any], int], int]
_ESTIMATES: dict[str, _Estimate] = {
    "batch": _sequence_estimate,
    "slice": _sequence_estimate,
    "center": _estimate_center,
    "indent": _estimate_indent,
    "replace": _estimate_replace,
    "join": _estimate_join,
    "format": _estimate_format,
    "wordwrap": _estimate_wordwrap,
    "urlize": _estimate_urlize,
    "truncate": _estimate_truncate,
    "tojson": _estimate_tojson,
    "sum": _estimate_sum,
}
_MATERIALISED = frozenset({"join", "sum", "batch", "slice"})  # these read their whole input


def _bounded_filter(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """The filter, with its input, its estimated output and its output checked and charged."""
    passes = _PassArg.from_obj(original)
    estimate = _ESTIMATES.get(name)

    materialised = name in _MATERIALISED
    given, made = f"the input of the {name} filter", f"the result of the {name} filter"

    @wraps(original)
    def bounded(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _CURRENT.get()
        limit = _value_limit(budget)
        if materialised:
            value = _as_list(value)
        _check(len(value) if value.__class__ is str else weight(value, limit), limit, given)
        if estimate is not None:
            _check(estimate(value, args, kwargs, limit), limit, made)
        if passes is None:
            result = original(value, *args, **kwargs)
        elif passes is _PassArg.context:
            result = original(context, value, *args, **kwargs)
        elif passes is _PassArg.eval_context:
            result = original(context.eval_ctx, value, *args, **kwargs)
        else:
            result = original(context.environment, value, *args, **kwargs)
        return _made(result, budget, limit, made)

    # Every filter takes the context: Jinja then never runs one at compile time (constant
    # folding), where no budget applies.
    return pass_context(bounded)


# --- str methods a template may call --------------------------------------------------------


def _str_method_estimate(method: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int) -> int:
    text: str = method.__self__
    name = method.__name__
    if name == "join":
        items = args[0] if args else ()
        return weight(items, limit) + len(text) * max(0, len(items) - 1)
    if name == "replace":
        count = _arg(args, kwargs, 2, "count", -1)
        old, new = _text(_arg(args, kwargs, 0, "old", "")), _text(_arg(args, kwargs, 1, "new", ""))
        return _replaced_size(text, old, new, count if isinstance(count, int) else None)
    if name in ("ljust", "rjust", "center", "zfill"):
        width = _arg(args, kwargs, 0, "width", 0)
        return max(len(text), width if isinstance(width, int) else 0)
    if name == "expandtabs":
        size = _arg(args, kwargs, 0, "tabsize", 8)
        return len(text) + text.count("\t") * (size if isinstance(size, int) else 0)
    if name == "translate":
        table = args[0] if args else {}
        longest = max((weight(v, limit) for v in table.values()), default=1) if isinstance(table, dict) else 1
        return len(text) * max(1, longest)
    return len(text)


def _ints_within(args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int) -> None:
    """A builtin method of a number or container (`to_bytes`, …) may allocate as much as an
    integer argument says."""
    for arg in (*args, *kwargs.values()):
        if isinstance(arg, int) and abs(arg) > limit:
            raise TemplateLimitError("max_value", f"the number {arg} is larger than {limit:,}")


# --- the environment --------------------------------------------------------------------------


def _guarded_loop(iterable: Any) -> Any:
    budget = _CURRENT.get()
    return iterable if budget is None else budget.loop(iterable)


@pass_eval_context
def _guarded_concat(eval_ctx: EvalContext, *values: Any) -> str:
    budget = _CURRENT.get()
    limit = _value_limit(budget)
    _check(sum(weight(value, limit) for value in values), limit, "the text joined with ~")
    joined = markup_join(values) if eval_ctx.autoescape else str_join(values)
    return str(_made(joined, budget, limit, "the text joined with ~"))


class _Guards(NodeTransformer):
    """Every `for` loop iterates through the budget; `~` joins through a check of its size."""

    # Jinja's NodeTransformer finds its methods by node class name.
    def visit_For(self, node: nodes.For) -> nodes.Node:  # noqa: N802
        self.generic_visit(node)
        node.iter = _internal_call("guarded_loop", [node.iter], node)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:  # noqa: N802
        self.generic_visit(node)
        return _internal_call("guarded_concat", list(node.nodes), node)


def _internal_call(name: str, args: list[Any], near: nodes.Node) -> nodes.Call:
    call = nodes.Call(nodes.EnvironmentAttribute(name), args, [], None, None)
    call.set_lineno(near.lineno or 1)
    if near.environment is not None:
        call.set_environment(near.environment)
    return call


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox (lists and dicts cannot grow in place), with the checks above."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_finalize, **options)
        self.globals.pop("lipsum", None)  # lorem ipsum of any length: no use in an e-mail
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        self.guarded_loop = _guarded_loop
        self.guarded_concat = _guarded_concat

    def compile_bounded(self, source: str) -> BoundedTemplate:
        """Compile a template (raises TemplateSyntaxError, SecurityError as Jinja does)."""
        parsed = self.parse(source)
        repeats = next(parsed.find_all((nodes.For, nodes.Macro, nodes.CallBlock)), None) is not None
        return BoundedTemplate(self.from_string(parsed), repeats)

    def _generate(
        self, source: nodes.Template, name: str | None, filename: str | None, defer_init: bool = False
    ) -> str:
        guarded = _Guards().visit(source)
        return super()._generate(guarded, name, filename, defer_init=defer_init)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = _CURRENT.get()
        limit = _value_limit(budget)
        what = _BINOP_RESULTS[operator]
        _check(_binop_size(operator, left, right, limit), limit, what)
        return _made(self.binop_table[operator](left, right), budget, limit, what)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if __obj is _guarded_loop or __obj is _guarded_concat:
            return __context.call(__obj, *args, **kwargs)
        budget = _CURRENT.get()
        if budget is not None:
            budget.step()
        limit = _value_limit(budget)
        if isinstance(__obj, types.BuiltinMethodType | types.MethodWrapperType):
            if isinstance(getattr(__obj, "__self__", None), str):
                _check(_str_method_estimate(__obj, args, kwargs, limit), limit, "the result of a str method")
            else:
                _ints_within(args, kwargs, limit)
        return _made(super().call(__context, __obj, *args, **kwargs), budget, limit, "the result of a call")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        template: str = value.__self__

        @wraps(wrapper)
        def bounded(*args: Any, **kwargs: Any) -> str:
            limit = _value_limit(_CURRENT.get())
            size = len(template) + _format_widths(template) + weight(args, limit) + weight(kwargs, limit)
            if _NESTED_FIELD.search(template):  # widths given as arguments: {:>{width}}
                _ints_within(args, kwargs, limit)
            _check(size, limit, "the result of format")
            return str(_made(wrapper(*args, **kwargs), _CURRENT.get(), limit, "the result of format"))

        return bounded


def _binop_size(operator: str, left: Any, right: Any, limit: int) -> int:
    """The size the operation would make (0 where it cannot grow)."""
    if operator == "*":
        return _product_size(left, right, limit)
    if operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
        _int_bits(left.bit_length() * right)
    if operator == "+" and isinstance(left, str | list | tuple):
        return weight(left, limit) + weight(right, limit)
    if operator == "%" and isinstance(left, str):  # printf-style formatting
        return len(left) + _printf_widths(left) + weight(right, limit)
    return 0


def _product_size(left: Any, right: Any, limit: int) -> int:
    if isinstance(left, int) and isinstance(right, int):
        _int_bits(left.bit_length() + right.bit_length())
        return 0
    count, repeated = (right, left) if isinstance(right, int) else (left, right)
    if not isinstance(count, int) or isinstance(count, bool):
        return 0
    return max(0, count) * weight(repeated, limit)


def _int_bits(bits: int) -> None:
    if bits > _MAX_INT_BITS:
        raise TemplateLimitError("max_value", f"a number of more than {_MAX_INT_BITS:,} bits")


def _finalize(value: Any) -> Any:
    """Every `{{ … }}` before it becomes text (a list's text may be far larger than the list)."""
    budget = _CURRENT.get()
    return _made(value, budget, _value_limit(budget), "a value printed")
