"""A dataclass field that carries its command line: every command's options are generated from the dataclass they
fill (cli.options), so an option is declared once, where its field is."""

from __future__ import annotations

from dataclasses import Field, field


def option(default, help: str, **cli) -> Field:
    """A field with what the command line shows of it: its help, and min/max, flag (a bool's '--on/--off' or '--on',
    or another name), ask (the explanation when it is asked on a terminal), parse (the text given -> the value,
    with shown: the default as the option shows it)."""
    return field(default=default, metadata={"help": help, **cli})
