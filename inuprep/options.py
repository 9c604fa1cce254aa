"""The settings users may set: the fields of a settings dataclass made with :func:`setting`.

A command-line tool's options (``inuprep-correct``, ``inuprep-harmonize fit``) and a nipype interface's
inputs both come from them, with the dataclass's defaults, so each default is written once.
"""

from dataclasses import MISSING, dataclass, field, fields


@dataclass(frozen=True)
class Option:
    """A settings field that users may set (``inuprep-correct --<name>``, an interface input)."""

    name: str
    kind: type  # int, float or str; of each element when ``many``
    default: object
    help: str
    choices: tuple | None = None
    many: bool = False  # a tuple of values

    @property
    def flag(self) -> str:
        """Return the command-line flag, e.g. ``--learning-rate``."""
        return "--" + self.name.replace("_", "-")


def setting(default, help: str, choices: tuple | None = None):
    """Return a dataclass field that users may set, with its help text (and allowed values)."""
    return field(default=default, metadata={"help": help, "choices": choices})


def settings_options(settings: type) -> tuple[Option, ...]:
    """Return the fields of a settings dataclass made with :func:`setting`, as options."""
    options = []
    for item in fields(settings):
        if "help" not in item.metadata or item.default is MISSING:
            continue
        default, many = item.default, isinstance(item.default, tuple)
        kind = type(default[0] if many else default)
        help, choices = item.metadata["help"], item.metadata["choices"]
        options.append(Option(item.name, kind, default, help, choices, many))
    return tuple(options)


def add_options(group, options: tuple[Option, ...]) -> None:
    """Add each option to an argparse parser or group, with its type, default, choices and help."""
    for option in options:
        group.add_argument(option.flag, type=option.kind, default=option.default, choices=option.choices,
                           nargs="+" if option.many else None, help=option.help)  # fmt: skip


def settings_from_args(settings: type, args) -> object:
    """Return ``settings`` built from the options parsed into ``args`` (lists back to tuples)."""
    values = {option.name: getattr(args, option.name) for option in settings_options(settings)}
    return settings(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
