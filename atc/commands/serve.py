"""`atc serve`: build, serve the site with live reload, and rebuild what an edit affects."""

from __future__ import annotations

import argparse
from pathlib import Path

from atc.commands.options import add_settings_options, settings_from_args, settings_help
from atc.settings import find_config


def register(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve",
        help="build, serve the site with live reload, and rebuild what an edit affects",
        description="Build the knowledge base and its site, serve it, and watch the rules, Data Needed, logging policies, "
        "triggers, templates, atc.yml and mkdocs.yml: an edit re-renders the pages it affects, rebuilds only those HTML "
        "pages and search entries, and reloads the browser.",
        epilog=settings_help("serve"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_settings_options(serve, "serve")
    serve.add_argument("-a", "--dev-addr", default="127.0.0.1:8000", metavar="HOST:PORT", help="where to serve (default: 127.0.0.1:8000)")


def run(args: argparse.Namespace) -> int:
    from atc.site.serve import serve

    cwd = Path.cwd()
    return serve(lambda: settings_from_args(args, cwd), args.dev_addr, find_config(args.config, cwd), verbose=args.verbose)
