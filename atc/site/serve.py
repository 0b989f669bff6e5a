"""`atc serve`: build, serve the site with live reload, and build again what an edited input affects (mkdocs' livereload server)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from atc.engine import summarise
from atc.kinds import folder_kinds
from atc.settings import ConfigError, Settings

POLLING = 0.5  # seconds between looks for changes when the system cannot tell them (mkdocs' interval)
RELOAD_PAUSE = 1.5  # seconds between a round that left pages waiting and the next: the reloading browsers fetch the page meanwhile


def parse_address(address: str) -> tuple[str, int]:
    """HOST:PORT as mkdocs' -a takes it (an IPv6 host in brackets); a bad address is a ConfigError."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"-a {address}: give the address as HOST:PORT, e.g. 127.0.0.1:8000")
    return host.strip("[]"), int(port)


def _inputs(settings: Settings, config_file: Path | None) -> list[Path]:
    """Every input path the build reads, existing or not: every registered kind's folders, templates, atc.yml, mkdocs.yml, events."""
    paths = [*(folder for key in folder_kinds() for folder in settings.folders(key)), settings.templates_dir, settings.mkdocs_config]
    if config_file is not None:
        paths.append(config_file)
    if settings.events is not None:
        paths.append(settings.events)
    return paths


def watched_paths(settings: Settings, config_file: Path | None) -> list[Path]:
    """The inputs a change to which rebuilds the site: every registered kind's folders (rules, Data Needed, ...), templates,
    atc.yml and mkdocs.yml."""
    found: dict[str, Path] = {}
    for path in _inputs(settings, config_file):
        if path.exists():
            found.setdefault(str(path.resolve()), path.resolve())
    return sorted(found.values())


def awaited_paths(settings: Settings, config_file: Path | None) -> list[Path]:
    """The inputs that do not exist yet but whose folder does (a templates folder or mkdocs.yml the team may create while serving)."""
    found = {Path(os.path.abspath(path)) for path in _inputs(settings, config_file) if not path.exists() and path.parent.is_dir()}
    return sorted(found)


def commits_log(settings: Settings) -> list[Path]:
    """The file git appends to at each commit, checkout or reset of the knowledge base's repository (its HEAD's reflog),
    when the rule history is shown: a commit changes the History sections. Empty outside git."""
    from atc.history.gitrev import GitError, git_output, repo_top

    if not settings.history.enabled:
        return []
    try:
        top = repo_top(settings.base_dir)
        log = Path(git_output(top, "rev-parse", "--git-path", "logs/HEAD").decode().strip())
    except GitError:
        return []
    return [Path(os.path.abspath(top / log))]


def ignored(path: str, root: str, outputs: list[str]) -> bool:
    """Whether a change below a watched root is none of the inputs': in a folder the build writes, or hidden (staging folders, editor swap files)."""
    if any(path == folder or path.startswith(folder + os.sep) for folder in outputs):
        return True
    relative = os.path.relpath(path, root) if path != root else os.path.basename(path)
    return any(part.startswith(".") for part in Path(relative).parts if part != "..")


def input_state(paths: list[Path], outputs: list[str]) -> dict[str, tuple[int, int]]:
    """Each input file below the watched paths with its modification time and size (outputs and hidden files left out):
    what changed between two looks, for the edits no watcher saw (made during the first build, before watching began)."""
    state: dict[str, tuple[int, int]] = {}
    for root in map(str, paths):
        for path in _files(root, outputs):
            with contextlib.suppress(OSError):  # deleted meanwhile: absent from this look
                found = os.stat(path)
                state[path] = (found.st_mtime_ns, found.st_size)
    return state


def _files(root: str, outputs: list[str]) -> list[str]:
    """The input files of a watched path: itself when a file, else every file below it that is not ignored."""
    if not os.path.isdir(root):
        return [root]
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if not ignored(os.path.join(folder, name), root, outputs)]
        found.extend(path for name in files if not ignored(path := os.path.join(folder, name), root, outputs))
    return found


def changed_between(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    """The files created, changed or deleted from one input_state to the next."""
    return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))


def _lines(exc: Exception) -> list[str]:
    """What a failed round says, as the command line says it: an unreadable or unwritable file's name and reason, else the message's lines."""
    if isinstance(exc, OSError) and exc.filename:
        return [f"{exc.filename}: {exc.strerror or exc}"]
    return str(exc).splitlines() or [type(exc).__name__]


def check_listen(host: str, port: int) -> None:
    """ConfigError when the address cannot be listened on (a port in use, a host not this machine's), said before the first build."""
    try:
        with socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET):
            pass
    except OSError as exc:
        raise ConfigError(f"-a {host}:{port}: cannot serve there: {os.strerror(exc.errno) if exc.errno else exc}") from exc


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM handler: stop serving as Ctrl-C does."""
    raise KeyboardInterrupt


def serve(
    load_settings: Callable[[], Settings], address: str, config_file: Path | None, stream: TextIO | None = None, verbose: bool = False
) -> int:
    """Build once, then serve the site on address and rebuild (incrementally) whenever a watched input changes; 1 when
    the first build makes no site."""
    import watchdog.events
    from mkdocs.livereload import LiveReloadServer
    from watchdog.observers import Observer
    from watchdog.observers.polling import PollingObserver
    from watchdog.utils.dirsnapshot import EmptyDirectorySnapshot

    from atc.convert.targets import UnknownTargetError
    from atc.site.live import LiveBuild
    from atc.site.mkdocs_adapter import SiteBuildError
    from atc.site.publish import OutputError

    CHANGES = [  # a file's opening or reading (by the build itself) is no change
        watchdog.events.FileCreatedEvent,
        watchdog.events.FileModifiedEvent,
        watchdog.events.FileDeletedEvent,
        watchdog.events.FileMovedEvent,
    ]
    FOLDER_CHANGES = [  # an input folder appears, is made again, moved or deleted
        watchdog.events.DirCreatedEvent,
        watchdog.events.DirMovedEvent,
        watchdog.events.DirDeletedEvent,
    ]
    stream = stream or sys.stderr  # the one of the moment (a test's capture), not the one at import
    host, port = parse_address(address)
    check_listen(host, port)
    settings = load_settings()
    if not settings.build_site:
        raise ConfigError("atc serve builds the site: drop --no-site / build_site: false")

    session = LiveBuild(load_settings, stream)
    outputs = [str(folder.resolve()) for folder in (settings.docs_dir, settings.site_dir, settings.cache_dir)]
    before_first = input_state(watched_paths(settings, config_file), outputs)  # edits during the first build: seen once watching

    def build() -> None:
        started = time.perf_counter()
        result = session.build()
        if result is not None:
            summarise(result, stream, verbose=verbose)
        print(f"serve: rebuilt in {time.perf_counter() - started:.2f} s; reloading the browsers", file=stream, flush=True)

    def rebuild() -> None:
        try:
            build()
        except (SiteBuildError, ConfigError, UnknownTargetError, OutputError, OSError) as exc:  # one line, not mkdocs' traceback
            for line in _lines(exc):
                print(f"atc: {line}", file=stream)
            print("serve: the last good site is served until the next edit", file=stream, flush=True)
            return
        if session.pending:  # the browsers reload now, undisturbed; the larger pages follow in another round after a pause
            pause = threading.Timer(RELOAD_PAUSE, server.another_round)
            pause.daemon = True
            pause.start()

    try:
        build()
    except (SiteBuildError, OutputError, OSError) as exc:  # no site to serve yet: one line and exit status 1, as atc build says it
        for line in _lines(exc):
            print(f"atc: {line}", file=stream)
        return 1
    site = settings.site_dir.resolve()

    class Server(LiveReloadServer):
        """mkdocs' live reload server, ignoring changes in the folders the build writes."""

        def __init__(self, **options: object) -> None:
            super().__init__(**options)  # type: ignore[arg-type]
            self.observer = Observer()  # told of changes by the system (inotify on Linux), not by polling: sooner, no walk of every rule
            self.handlers: dict[str, tuple[watchdog.events.FileSystemEventHandler, bool]] = {}  # per watched path: handler, recursive

        def watch(self, path: str, func: None = None, *, recursive: bool = True) -> None:
            path = os.path.abspath(path)
            if path in self._watched_paths:
                return
            self._watched_paths[path] = 1

            def changed(event: watchdog.events.FileSystemEvent) -> None:
                names = [str(event.src_path), str(getattr(event, "dest_path", "") or "")]
                inputs = [name for name in names if name and not ignored(name, path, outputs)]
                if event.is_directory or type(event) not in CHANGES or not inputs:
                    return
                session.changed(inputs)
                self.another_round()

            handler = watchdog.events.FileSystemEventHandler()
            handler.on_any_event = changed  # type: ignore[method-assign]
            self.handlers[path] = (handler, recursive and os.path.isdir(path))
            try:
                self._watch_refs[path] = self.observer.schedule(handler, path, recursive=self.handlers[path][1], event_filter=CHANGES)
            except OSError:  # the system's limit of watches: look for changes by polling, as mkdocs does
                self.observer = PollingObserver(timeout=POLLING)
                for watched, (known, deep) in self.handlers.items():
                    self._watch_refs[watched] = self.observer.schedule(known, watched, recursive=deep, event_filter=CHANGES)

        def await_input(self, path: Path) -> None:
            """Watch the folder of an input: when the input appears there (created, or a deleted folder made again), it is
            watched afresh; when it appears or goes, the site is built again."""
            awaited = str(path)

            def appeared(event: watchdog.events.FileSystemEvent) -> None:
                if awaited not in (str(event.src_path), str(getattr(event, "dest_path", "") or "")):
                    return
                if os.path.exists(awaited):
                    self.rewatch(awaited)
                session.changed([awaited])  # created, made again, moved away or deleted
                self.another_round()

            handler = watchdog.events.FileSystemEventHandler()
            handler.on_any_event = appeared  # type: ignore[method-assign]
            with contextlib.suppress(OSError):  # the system's limit of watches: the input is watched, not awaited
                self.observer.schedule(handler, str(path.parent), recursive=False, event_filter=[*CHANGES, *FOLDER_CHANGES])

        def rewatch(self, path: str) -> None:
            """Watch a folder again (its old watch ended with it when it was deleted); a file is watched through its folder."""
            if os.path.isdir(path) and path in self._watch_refs:
                with contextlib.suppress(KeyError, OSError):
                    self.observer.unschedule(self._watch_refs.pop(path))
                self._watched_paths.pop(path, None)
            self.watch(path)

        def another_round(self) -> None:
            """Build again as soon as the current round is over."""
            with self._rebuild_cond:
                self._want_rebuild = True
                self._rebuild_cond.notify_all()

        def serve(self, *, open_in_browser: bool = False) -> None:
            """Serve and rebuild on changes, saying so only once every watched input has been looked at (an edit from then on counts)."""
            self.server_bind()
            self.server_activate()
            self.observer.start()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and any(
                isinstance(getattr(e, "_snapshot", None), EmptyDirectorySnapshot) for e in self.observer.emitters
            ):
                time.sleep(0.05)
            missed = changed_between(before_first, input_state(watched_paths(settings, config_file), outputs))
            if missed:  # saved while the first build ran, before any watcher looked
                session.changed(missed)
                self.another_round()
            print(f"serve: {self.url} (Ctrl-C stops); watching {len(self._watched_paths)} inputs", file=stream, flush=True)
            self.serve_thread.start()
            self._build_loop()

    server = Server(builder=rebuild, host=host, port=port, root=str(site), polling_interval=POLLING)
    server.build_delay = 0.05

    def error_page(code: int) -> bytes | None:
        page = site / f"{code}.html"
        return page.read_bytes() if code in (404, 500) and page.is_file() else None

    server.error_handler = error_page
    for path in watched_paths(settings, config_file):
        server.watch(str(path))
    for path in [*watched_paths(settings, config_file), *awaited_paths(settings, config_file), *commits_log(settings)]:
        server.await_input(path)
    signal.signal(signal.SIGTERM, _interrupt)  # a terminated server stops as after Ctrl-C
    try:
        server.serve()
    except KeyboardInterrupt:
        print("serve: stopped", file=stream)
    finally:
        server.shutdown()
    return 0
