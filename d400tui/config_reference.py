"""The configuration reference of the administrator guide, generated from the settings model: one
row per field of `Settings` (environment variable, TOML key, type, default, the field's docstring).
`python -m d400tui.config_reference` prints it (`--write` updates docs/admin-guide.md in a
checkout); a test fails when the guide is behind."""

from __future__ import annotations

import ast
import inspect

from pydantic import SecretStr

from d400tui import config
from d400tui.config import Settings

# fields config.py leaves without a docstring: said here, until it has one (a docstring wins)
MEANING = {
    "acquirer_connect_timeout": "Seconds to open the connection to the acquirer (http, stripe, iso8583).",
    "acquirer_url": "Base URL of the http or stripe acquirer.",
    "acquirer_host": "Host of the ISO 8583 acquirer.",
    "acquirer_port": "TCP port of the ISO 8583 acquirer.",
    "acquirer_key": "API key or shared secret of the acquirer (Stripe secret key); never logged.",
    "breaker_reset_s": "Seconds the open circuit breaker waits before letting one request try again.",
    "simulator_latency_ms": "Delay the simulated issuer adds to each answer, in milliseconds.",
    "simulator_fault_rate": "Share of simulated requests that fail in transport (0 to 1), for resilience tests.",
    "password": "CLI password of D400_OPERATOR; never logged.",
}
BOUND = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}

START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def _docstrings() -> dict[str, str]:
    """The string literal under each annotated field of Settings, as its description."""
    tree = ast.parse(inspect.getsource(config))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
    out: dict[str, str] = {}
    for prev, node in zip(cls.body, cls.body[1:], strict=False):
        if (
            isinstance(prev, ast.AnnAssign)
            and isinstance(prev.target, ast.Name)
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            out[prev.target.id] = " ".join(node.value.value.split())
    return out


def _default(value: object) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, SecretStr):
        return '""' if not value.get_secret_value() else "(secret)"
    return f"`{value!r}`" if not isinstance(value, str) else f'`"{value}"`'


def meanings() -> dict[str, str]:
    """Every setting's description (empty when neither config.py nor MEANING says it)."""
    docs = _docstrings()
    return {name: docs.get(name) or MEANING.get(name, "") for name in Settings.model_fields}


def render() -> str:
    said = meanings()
    lines = [START, "", "| Variable | TOML key | Type | Default | Meaning |", "|---|---|---|---|---|"]
    for name, f in Settings.model_fields.items():
        kind = str(f.annotation).replace("typing.", "").replace("pydantic.types.", "").replace("|", "or")
        kind = kind.replace("<class '", "").replace("'>", "")
        bounds = ", ".join(f"{sign} {getattr(c, k)}" for c in f.metadata for k, sign in BOUND.items() if hasattr(c, k))
        meaning = said[name] + (f" ({bounds})" if bounds else "")
        lines.append(f"| `D400_{name.upper()}` | `{name}` | {kind} | {_default(f.default)} | {meaning} |")
    return "\n".join([*lines, "", END])


def write(path: str) -> None:
    """Replace the generated block of the guide at `path` with the current reference."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    with open(path, "w", encoding="utf-8") as f:
        f.write(head + render() + tail)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write"]:
        write("docs/admin-guide.md")
    else:
        print(render())
