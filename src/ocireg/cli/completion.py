"""``ocireg completion bash|zsh|fish``: shell completion generated from the argument parser itself.

The script is built by walking ``build_parser(COMMAND_MODULES)`` — every subcommand (nested ones such as
``auth explain`` too), its options, which options take a value, their choices, and which values are files — so
commands added later are covered without touching this module. Nothing is completed over the network:
references are left to the user; files, choices, commands and options are completed.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ocireg import __version__
from ocireg.cli.parser import add_command
from ocireg.record import field, record

if TYPE_CHECKING:
    from ocireg.cli.context import Context

__all__ = ["SHELLS", "Command", "Option", "command_tree", "register", "script_for"]

SHELLS = ("bash", "zsh", "fish")
FILES = "@files"  # marker in the generated tables: complete file names here

COMPLETION_EPILOG = """\
examples:
  source <(ocireg completion bash)         # bash, this session (put it in ~/.bashrc to keep it)
  ocireg completion bash > ~/.local/share/bash-completion/completions/ocireg
  source <(ocireg completion zsh)          # zsh, after compinit (e.g. in ~/.zshrc)
  ocireg completion zsh > "${fpath[1]}/_ocireg"    # then start a new zsh
  ocireg completion fish | source
  ocireg completion fish > ~/.config/fish/completions/ocireg.fish

Commands, options, option choices (-o text|json|...) and file arguments are completed;
image references are not (that would need the network)."""

_SAFE_WORD = re.compile(r"[A-Za-z0-9_.:/+@%,=-]+")
_FILE_HINTS = ("FILE", "PEM", "PATH", "DIR")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        sub, "completion", "Print a completion script for SHELL on standard output.", COMPLETION_EPILOG
    )
    p.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")


def cmd_completion(ctx: Context) -> int:
    from ocireg.cli import COMMAND_MODULES
    from ocireg.cli.parser import build_parser

    ctx.stdout.write(script_for(ctx.args.shell, build_parser(COMMAND_MODULES)))
    return 0


# ----------------------------------------------------------------------------------------------------------------
# The parser as data
# ----------------------------------------------------------------------------------------------------------------


@record(frozen=True)
class Option:
    flags: tuple[str, ...]
    takes_value: bool
    choices: tuple[str, ...] = ()
    files: bool = False
    help: str = ""


@record
class Command:
    path: tuple[str, ...]
    help: str = ""
    options: list[Option] = field(default_factory=list)
    subcommands: dict[str, Command] = field(default_factory=dict)
    positional_choices: tuple[str, ...] = ()
    positional_files: bool = False

    @property
    def key(self) -> str:
        """The command path as the scripts spell it: ``""`` for ocireg itself, ``"auth explain"``."""
        return " ".join(self.path)

    def walk(self) -> Iterator[Command]:
        yield self
        for sub in self.subcommands.values():
            yield from sub.walk()

    @property
    def value_options(self) -> list[str]:
        return [flag for opt in self.options if opt.takes_value for flag in opt.flags]


def command_tree(parser: argparse.ArgumentParser) -> Command:
    """The commands, options and arguments of ``parser`` (recursively through its subparsers)."""
    return _walk(parser, (), "")


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...], help_text: str) -> Command:
    command = Command(path=path, help=help_text)
    for action in parser._actions:
        if action.help == argparse.SUPPRESS:
            continue
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, subparser in action.choices.items():
                command.subcommands[name] = _walk(subparser, (*path, name), _one_line(helps.get(name, "")))
        elif action.option_strings:
            command.options.append(
                Option(
                    flags=tuple(action.option_strings),
                    takes_value=action.nargs != 0,
                    choices=_choices(action),
                    files=_is_file(action),
                    help=_one_line(_expand_help(action)),
                )
            )
        else:
            command.positional_choices += _choices(action)
            command.positional_files = command.positional_files or _is_file(action)
    return command


def _choices(action: argparse.Action) -> tuple[str, ...]:
    if not action.choices:
        return ()
    return tuple(str(c) for c in action.choices if _SAFE_WORD.fullmatch(str(c)))


def _is_file(action: argparse.Action) -> bool:
    if isinstance(action.type, argparse.FileType):
        return True
    if action.choices:
        return False
    metavar = action.metavar if isinstance(action.metavar, str) else ""
    text = (metavar or action.dest or "").upper()
    return any(hint in text for hint in _FILE_HINTS)


def _expand_help(action: argparse.Action) -> str:
    text = action.help or ""
    if "%" not in text:
        return text
    try:
        return text % {**vars(action), "prog": "ocireg"}
    except (KeyError, TypeError, ValueError):
        return text.replace("%%", "%")


def _one_line(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "…"


# ----------------------------------------------------------------------------------------------------------------
# Scripts
# ----------------------------------------------------------------------------------------------------------------


def script_for(shell: str, parser: argparse.ArgumentParser) -> str:
    generators: dict[str, Callable[[Command], str]] = {
        "bash": bash_script,
        "zsh": zsh_script,
        "fish": fish_script,
    }
    return generators[shell](command_tree(parser))


def _sq(text: str) -> str:
    """A POSIX single-quoted word (bash and zsh)."""
    return "'" + text.replace("'", "'\\''") + "'"


def _case_table(
    function: str, root: Command, value: Callable[[Command], list[str]], *, zsh: bool = False
) -> list[str]:
    """``function() { case "$1" in 'path') REPLY=...;; esac }`` — one row per command with a non-empty value."""
    rows = [(_sq(command.key), value(command)) for command in root.walk()]
    return _case_function(function, '"$1"', [(pattern, words) for pattern, words in rows if words], zsh=zsh)


def _values_table(function: str, root: Command, *, zsh: bool = False) -> list[str]:
    """``function PATH OPTION``: the choices of an option that takes a value, or the files marker."""
    rows = [
        (
            "|".join(_sq(f"{command.key}|{flag}") for flag in option.flags),
            list(option.choices) if option.choices else [FILES],
        )
        for command in root.walk()
        for option in command.options
        if option.takes_value and (option.choices or option.files)
    ]
    return _case_function(function, '"$1|$2"', rows, zsh=zsh)


def _case_function(function: str, subject: str, rows: list[tuple[str, list[str]]], *, zsh: bool) -> list[str]:
    """A shell function whose ``case`` on ``subject`` sets the words of each row's patterns: ``reply`` (a zsh
    array) or ``REPLY`` (one bash string); anything else, none."""
    lines = [f"{function}() {{", f"    case {subject} in"]
    for patterns, words in rows:
        if zsh:
            lines.append(f"        ({patterns}) reply=({' '.join(_sq(w) for w in words)}) ;;")
        else:
            lines.append(f"        {patterns}) REPLY={_sq(' '.join(words))} ;;")
    lines.append("        (*) reply=() ;;" if zsh else "        *) REPLY='' ;;")
    lines += ["    esac", "}"]
    return lines


def _positional_words(command: Command) -> list[str]:
    if command.positional_choices:
        return list(command.positional_choices)
    return [FILES] if command.positional_files else []


def _header(shell: str) -> list[str]:
    return [
        f"# {shell} completion for ocireg {__version__}, generated by 'ocireg completion {shell}'.",
        "# Regenerate it after upgrading ocireg; 'ocireg completion --help' shows how to install it.",
    ]


def bash_script(root: Command) -> str:
    lines = _header("bash")
    lines += _case_table("_ocireg_subcommands", root, lambda c: list(c.subcommands))
    lines += _case_table("_ocireg_options", root, lambda c: [f for o in c.options for f in o.flags])
    lines += _case_table("_ocireg_value_options", root, lambda c: c.value_options)
    lines += _case_table("_ocireg_positional", root, _positional_words)
    lines += _values_table("_ocireg_option_values", root)
    lines.append(_BASH_MAIN)
    return "\n".join(lines) + "\n"


_BASH_MAIN = r"""
_ocireg_reply() {
    # COMPREPLY from REPLY: a word list, or file names for the @files marker.
    if [[ "$REPLY" == @files ]]; then
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -- "$1")
    else
        mapfile -t COMPREPLY < <(compgen -W "$REPLY" -- "$1")
    fi
}

_ocireg() {
    local cur prev word cmdpath='' skip=0 i REPLY=''
    COMPREPLY=()
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev=''
    ((COMP_CWORD > 0)) && prev="${COMP_WORDS[COMP_CWORD - 1]}"
    # --option=value: bash splits at '=' (COMP_WORDBREAKS), so the option is one or two words back.
    if [[ "$cur" == = ]]; then
        cur=''
    elif [[ "$prev" == = ]] && ((COMP_CWORD >= 2)); then
        prev="${COMP_WORDS[COMP_CWORD - 2]}"
    fi
    # The command path so far (e.g. "auth explain"); values of options are skipped.
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${COMP_WORDS[i]}"
        if [[ "$word" == = ]]; then skip=1; continue; fi
        if ((skip)); then skip=0; continue; fi
        case "$word" in
            -*)
                _ocireg_value_options "$cmdpath"
                [[ " $REPLY " == *" $word "* ]] && skip=1
                continue
                ;;
        esac
        _ocireg_subcommands "$cmdpath"
        if [[ " $REPLY " == *" $word "* ]]; then cmdpath="${cmdpath:+$cmdpath }$word"; fi
    done
    if [[ "$prev" == -* ]]; then
        _ocireg_value_options "$cmdpath"
        if [[ " $REPLY " == *" $prev "* ]]; then
            _ocireg_option_values "$cmdpath" "$prev"
            [[ -n "$REPLY" ]] && _ocireg_reply "$cur"
            return 0
        fi
    fi
    if [[ "$cur" == -* ]]; then
        _ocireg_options "$cmdpath"
        _ocireg_reply "$cur"
        return 0
    fi
    _ocireg_subcommands "$cmdpath"
    if [[ -z "$REPLY" ]]; then
        _ocireg_positional "$cmdpath"
    fi
    [[ -n "$REPLY" ]] && _ocireg_reply "$cur"
    return 0
}

complete -F _ocireg ocireg"""


def _zsh_entry(name: str, help_text: str) -> str:
    return name.replace(":", r"\:") + (":" + help_text if help_text else "")


def zsh_script(root: Command) -> str:
    lines = ["#compdef ocireg", *_header("zsh")]
    lines += _case_table(
        "_ocireg_subcommands",
        root,
        lambda c: [_zsh_entry(n, s.help) for n, s in c.subcommands.items()],
        zsh=True,
    )
    lines += _case_table(
        "_ocireg_options",
        root,
        lambda c: [_zsh_entry(f, o.help) for o in c.options for f in o.flags],
        zsh=True,
    )
    lines += _case_table("_ocireg_value_options", root, lambda c: c.value_options, zsh=True)
    lines += _case_table("_ocireg_positional", root, _positional_words, zsh=True)
    lines += _values_table("_ocireg_option_values", root, zsh=True)
    lines.append(_ZSH_MAIN)
    return "\n".join(lines) + "\n"


_ZSH_MAIN = r"""
_ocireg_complete_values() {
    # $reply holds choices, or the @files marker.
    if [[ ${reply[1]} == @files ]]; then
        _files
    elif (( $#reply )); then
        compadd -- "${reply[@]}"
    fi
}

_ocireg() {
    local cmdpath='' word cur prev opt
    local -i i skip=0
    local -a reply
    # The command path so far (e.g. "auth explain"); values of options are skipped.
    for (( i = 2; i < CURRENT; i++ )); do
        word=${words[i]}
        if (( skip )); then skip=0; continue; fi
        case $word in
            (--*=*) continue ;;
            (-*)
                _ocireg_value_options "$cmdpath"
                (( ${reply[(Ie)$word]} )) && skip=1
                continue
                ;;
        esac
        _ocireg_subcommands "$cmdpath"
        if (( ${reply[(I)${(b)word}(|:*)]} )); then cmdpath="${cmdpath:+$cmdpath }$word"; fi
    done
    cur=${words[CURRENT]}
    prev=${words[CURRENT-1]}
    if [[ $cur == --*=* ]]; then
        opt=${cur%%=*}
        _ocireg_value_options "$cmdpath"
        if (( ${reply[(Ie)$opt]} )); then
            _ocireg_option_values "$cmdpath" "$opt"
            compset -P '*='
            _ocireg_complete_values
            return
        fi
    fi
    if [[ $prev == -* ]]; then
        _ocireg_value_options "$cmdpath"
        if (( ${reply[(Ie)$prev]} )); then
            _ocireg_option_values "$cmdpath" "$prev"
            _ocireg_complete_values
            return
        fi
    fi
    if [[ $cur == -* ]]; then
        _ocireg_options "$cmdpath"
        _describe -t options 'ocireg option' reply
        return
    fi
    _ocireg_subcommands "$cmdpath"
    if (( $#reply )); then
        _describe -t commands 'ocireg command' reply
        return
    fi
    _ocireg_positional "$cmdpath"
    _ocireg_complete_values
}

if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
    _ocireg "$@"
else
    compdef _ocireg ocireg
fi"""


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fish_script(root: Command) -> str:
    lines = _header("fish")
    lines += _fish_switch("__ocireg_subcommands", root, lambda command: list(command.subcommands))
    lines += [""]
    lines += _fish_switch("__ocireg_value_options", root, lambda command: list(command.value_options))
    lines += [_FISH_MAIN]
    for command in root.walk():
        at = f"-n {_fish_quote('__ocireg_at ' + _fish_quote(command.key))}"
        for name, sub in command.subcommands.items():
            desc = f" -d {_fish_quote(sub.help)}" if sub.help else ""
            lines.append(f"complete -c ocireg {at} -a {name}{desc}")
        lines += [_fish_option(at, option) for option in command.options]
        if not command.subcommands:
            if command.positional_choices:
                lines.append(
                    f"complete -c ocireg {at} -a {_fish_quote(' '.join(command.positional_choices))}"
                )
            elif command.positional_files:
                lines.append(f"complete -c ocireg {at} -F")
    return "\n".join(lines) + "\n"


def _fish_switch(function: str, root: Command, value: Callable[[Command], list[str]]) -> list[str]:
    """``function PATH``: echo the words of the command at PATH (the fish form of :func:`_case_table`)."""
    lines = [f"function {function}", "    switch $argv[1]"]
    for command in root.walk():
        words = value(command)
        if words:
            lines += [f"        case {_fish_quote(command.key)}", f"            echo {' '.join(words)}"]
    return [*lines, "    end", "end"]


def _fish_option(at: str, option: Option) -> str:
    """The ``complete`` line of one option: its flags, what its value completes to, its help."""
    parts = ["complete -c ocireg", at]
    for flag in option.flags:
        if flag.startswith("--"):
            parts.append(f"-l {flag[2:]}")
        elif len(flag) == 2:
            parts.append(f"-s {flag[1]}")
        else:
            parts.append(f"-o {flag[1:]}")
    if option.choices:
        parts.append(f"-x -a {_fish_quote(' '.join(option.choices))}")
    elif option.files:
        parts.append("-r -F")
    elif option.takes_value:
        parts.append("-x")
    if option.help:
        parts.append(f"-d {_fish_quote(option.help)}")
    return " ".join(parts)


_FISH_MAIN = r"""
function __ocireg_path
    # The command path so far (e.g. "auth explain"); values of options are skipped.
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l cmdpath ''
    set -l skip 0
    for word in $tokens
        if test $skip -eq 1
            set skip 0
            continue
        end
        if string match -q -- '-*' $word
            if contains -- $word (string split ' ' -- (__ocireg_value_options "$cmdpath"))
                set skip 1
            end
            continue
        end
        if contains -- $word (string split ' ' -- (__ocireg_subcommands "$cmdpath"))
            set cmdpath (string trim -- "$cmdpath $word")
        end
    end
    echo $cmdpath
end

function __ocireg_at
    set -l here (__ocireg_path)
    test "$here" = "$argv[1]"
end

complete -c ocireg -f"""
