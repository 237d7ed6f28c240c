"""Command-line options generated from TrainConfig's fields: `equinet train` and `equinet cv` declare each field
once, where it is defined (its help, bounds and flag), never again."""

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
    kind = type(default) if default is not None else str
    choices = f" One of {', '.join(CHOICES[f.name])}." if f.name in CHOICES else ""
    flag = meta.get("flag")
    single = bool(flag) and "/" not in flag  # --compile: off unless given
    shown = "" if single or default is None else f" Default: {default}."
    opt = typer.Option(False if single else None, *([flag] if flag else [option_name(f.name)]),
                       help=meta["help"] + choices + shown, min=meta.get("min"), max=meta.get("max"), hidden=hidden,
                       show_default=False)
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=opt,
                             annotation=typing.Optional[kind])


def with_config_options(skip: tuple[str, ...] = (), hidden: tuple[str, ...] = ()) -> Callable:
    """Give a command every TrainConfig field as an option (but `skip`; `hidden` ones are accepted but not shown);
    the command receives them among its keyword arguments."""
    generated = [_option(f, f.name in hidden) for f in fields(TrainConfig) if f.name not in skip]

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


def to_config(options: dict) -> TrainConfig:
    """The TrainConfig of the options as given (the rest at their defaults), checked."""
    cfg = TrainConfig(**{k: str(v) if k in ("data", "out") else v for k, v in given(options).items()})
    cfg.check()
    return cfg
