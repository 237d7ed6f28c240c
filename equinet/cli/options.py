"""Command-line options generated from the dataclasses they fill: `equinet train` and `equinet cv` from TrainConfig,
`equinet backtest` from Rules and Costs; each field declares its option once, where it is defined (its help, bounds
and flag: core.fields.option), never again."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import MISSING, fields

import typer

from equinet.training.config import CHOICES, TrainConfig


def _option(f, hidden: bool) -> inspect.Parameter:
    """One field as a Typer option whose value is None when not given (so a caller knows what was asked for)."""
    meta, default = f.metadata, f.default if f.default is not MISSING else None
    kind = str if default is None or "parse" in meta else type(default)
    choices = f" One of {', '.join(CHOICES[f.name])}." if f.name in CHOICES else ""
    flag = meta.get("flag")
    single = isinstance(default, bool) and bool(flag) and "/" not in flag  # --compile: off unless given
    default = meta.get("shown", default)
    shown = "" if single or default is None else f" Default: {default}."
    opt = typer.Option(False if single else None, *([flag] if flag else [option_name(f.name)]),
                       help=meta["help"] + choices + shown, min=meta.get("min"), max=meta.get("max"), hidden=hidden,
                       show_default=False)
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=opt,
                             annotation=typing.Optional[kind])


def with_options(*classes: type, skip: tuple[str, ...] = (), hidden: tuple[str, ...] = ()) -> Callable:
    """Give a command every field of the dataclasses as an option (but `skip`; `hidden` ones are accepted but not
    shown); the command receives them among its keyword arguments."""
    generated = [_option(f, f.name in hidden) for cls in classes for f in fields(cls) if f.name not in skip]

    def wrap(command: Callable) -> Callable:
        hints = typing.get_type_hints(command)
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation))
               for p in inspect.signature(command).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]

        @functools.wraps(command)
        def run(**kwargs):
            return command(**kwargs)

        run.__signature__ = inspect.Signature(own + generated)
        run.__annotations__ = {p.name: p.annotation for p in own + generated}
        del run.__wrapped__  # Typer must read the signature above, not the command's own
        return run

    return wrap


def option_name(field_name: str) -> str:
    """d_model -> --d-model."""
    return f"--{field_name.replace('_', '-')}"


def config_fields(skip: tuple[str, ...] = ()) -> list[str]:
    """The options of TrainConfig's fields as typed (--d-model), in their order."""
    return [option_name(f.name) for f in fields(TrainConfig) if f.name not in skip]


def given(options: dict) -> dict:
    """The TrainConfig fields among options that the user gave (not None)."""
    names = {f.name for f in fields(TrainConfig)}
    return {k: v for k, v in options.items() if k in names and v is not None}


def build(cls: type, options: dict, **nested):
    """An instance of a dataclass from the options given (the rest at its defaults), each parsed as its field
    says; nested: fields that are dataclasses themselves, built already."""
    given_here = {f.name: f.metadata.get("parse", lambda v: v)(options[f.name]) for f in fields(cls)
                  if options.get(f.name) is not None}
    return cls(**given_here, **nested)


def to_config(options: dict) -> TrainConfig:
    """The TrainConfig of the options as given (the rest at their defaults), checked."""
    cfg = TrainConfig(**{k: str(v) if k in ("data", "out") else v for k, v in given(options).items()})
    cfg.check()
    return cfg
