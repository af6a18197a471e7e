#!/usr/bin/python3
"""Writes scripts/ganeti-commands.json: Ganeti's own command tables, as data.

Each of Ganeti's `ganeti/client/gnt_<family>.py` modules defines a `commands` dict (subcommand -> (function,
args, options, usage, description)) and most an `aliases` dict (alias -> subcommand). This script imports those
modules and writes, for each family and subcommand, its aliases and each option's short and long names, whether
it takes a value, and its help text. `cli._ParseArgs` adds `cli.COMMON_OPTS` (--debug, --reason) to every
subcommand's options; those are written once, as "commonOptions".

Run it with Debian's Python on the modules of Debian's ganeti-3.0 package:

    mkdir -p /tmp/gnt && cd /tmp/gnt && apt-get download ganeti-3.0 && dpkg -x ganeti-3.0_*.deb root
    /usr/bin/python3 scripts/ganeti-commands.py [/tmp/gnt/root/usr/share/ganeti/3.0] [output.json]

Importing the client modules needs third-party packages that the ganeti-3.0 package depends on (bitarray,
pyparsing, OpenSSL, pycurl, ...) and that are usually not installed. Any module that cannot be found is replaced
by a stub: the command tables are plain data built at import time and use none of them.
"""

import importlib.abc
import importlib.machinery
import json
import optparse
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_GANETI = "/tmp/gnt/root/usr/share/ganeti/3.0"
DEFAULT_OUTPUT = os.path.join(HERE, "ganeti-commands.json")

#: The families that Corral maps (see src/cli/run.ts).
FAMILIES = ["cluster", "node", "instance", "group", "job", "os", "backup", "debug"]


class _StubMeta(type):
    """A class whose every attribute is another stub class, and that can be called, subclassed and iterated."""

    def __getattr__(cls, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _stub_class(name)

    def __iter__(cls):
        return iter(())

    def __or__(cls, other):
        return cls

    __ror__ = __or__
    __add__ = __or__
    __radd__ = __or__

    def __lt__(self, other):
        return False

    __le__ = __lt__
    __gt__ = __lt__
    __ge__ = __lt__


class _Stub(metaclass=_StubMeta):
    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return _Stub()

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Stub()

    def __iter__(self):
        return iter(())

    def __or__(self, other):
        return self

    __ror__ = __or__
    __add__ = __or__
    __radd__ = __or__

    def __lt__(self, other):
        return False

    __le__ = __lt__
    __gt__ = __lt__
    __ge__ = __lt__


def _stub_class(name):
    return _StubMeta(name, (_Stub,), {})


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        value = _stub_class(name)
        setattr(self, name, value)
        return value


class _StubLoader(importlib.abc.Loader):
    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []  # a package, so that `import a.b` works too
        return module

    def exec_module(self, module):
        pass


def _importer_file():
    """The file of the code running the import statement (past importlib's own frames)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith("<frozen importlib"):
        frame = frame.f_back
    return "" if frame is None else frame.f_code.co_filename


class _StubFinder(importlib.abc.MetaPathFinder):
    """Last on sys.meta_path: modules that no other finder finds, imported by Ganeti's code, are stubbed.

    The standard library's own imports of optional modules (msvcrt, _winapi, ...) still fail as they would.
    """

    def __init__(self, ganeti_dir):
        self.ganeti_dir = os.path.join(os.path.abspath(ganeti_dir), "")
        self.stubbed = set()

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "ganeti" or fullname.startswith("ganeti."):
            return None  # Ganeti's own modules must be the real ones
        if not _importer_file().startswith(self.ganeti_dir):
            return None
        self.stubbed.add(fullname.split(".")[0])
        return importlib.machinery.ModuleSpec(fullname, _StubLoader(), is_package=True)


def _option(opt):
    """One optparse option: its names, whether it takes a value, its help."""
    hidden = opt.help == optparse.SUPPRESS_HELP
    entry = {
        "short": list(opt._short_opts),
        "long": list(opt._long_opts),
        "takesValue": bool(opt.takes_value()),
        "help": "" if hidden or opt.help is None else str(opt.help),
    }
    if opt.takes_value() and opt.choices:
        entry["choices"] = [str(c) for c in opt.choices]
    if hidden:
        entry["hidden"] = True
    return entry


def _options(opts):
    seen = set()
    result = []
    for opt in opts:
        key = tuple(opt._short_opts + opt._long_opts)
        if key in seen:
            continue
        seen.add(key)
        result.append(_option(opt))
    return result


def _format(value, indent, used):
    """JSON laid out as Biome formats it (the repo's formatter checks scripts/**): objects one key a line,
    arrays of plain values on one line when they fit in 110 columns."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = []
        for key, item in value.items():
            prefix = "%s  %s: " % (pad, json.dumps(key, ensure_ascii=False))
            items.append(prefix + _format(item, indent + 1, len(prefix)))
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if not any(isinstance(item, (dict, list)) for item in value):
            inline = "[" + ", ".join(json.dumps(item, ensure_ascii=False) for item in value) + "]"
            if used + len(inline) + 1 <= 110:
                return inline
        items = [pad + "  " + _format(item, indent + 1, len(pad) + 2) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(value, ensure_ascii=False)


def main(argv):
    # Ganeti builds some choices and help texts from sets: a fixed hash seed keeps their order, and so the
    # JSON, the same from run to run.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.execve(sys.executable, [sys.executable] + argv, dict(os.environ, PYTHONHASHSEED="0"))
    ganeti_dir = argv[1] if len(argv) > 1 else DEFAULT_GANETI
    output = argv[2] if len(argv) > 2 else DEFAULT_OUTPUT
    if not os.path.isfile(os.path.join(ganeti_dir, "ganeti", "cli.py")):
        sys.stderr.write("%s has no ganeti/cli.py; see this script's docstring\n" % ganeti_dir)
        return 1
    sys.path.insert(0, ganeti_dir)
    finder = _StubFinder(ganeti_dir)
    sys.meta_path.append(finder)

    import importlib

    from ganeti import cli, constants

    families = {}
    for family in FAMILIES:
        module = importlib.import_module("ganeti.client.gnt_%s" % family)
        aliases = getattr(module, "aliases", {})
        subcommands = {}
        for name in sorted(module.commands):
            _func, _args, opts, usage, description = module.commands[name]
            subcommands[name] = {
                "aliases": sorted(alias for alias, target in aliases.items() if target == name),
                "usage": usage,
                "description": description,
                "options": _options(opts),
            }
        families[family] = {"tool": "gnt-%s" % family, "subcommands": subcommands}

    data = {
        "source": "Ganeti %s, ganeti/client/gnt_*.py command tables (BSD-2-Clause, Google Inc. and "
        "Ganeti Project Contributors); generated by scripts/ganeti-commands.py" % constants.RELEASE_VERSION,
        "commonOptions": _options(cli.COMMON_OPTS),
        "families": families,
    }
    with open(output, "w") as out:
        out.write(_format(data, 0, 0) + "\n")
    sys.stderr.write(
        "wrote %s: %d families, %d subcommands (stubbed: %s)\n"
        % (
            output,
            len(families),
            sum(len(f["subcommands"]) for f in families.values()),
            ", ".join(sorted(finder.stubbed)) or "nothing",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
