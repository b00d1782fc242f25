"""What a person running the command sees: the engine's log lines, and on a terminal a live
progress bar below them, drawn from the progress records the copy sends twice a second."""

import logging
import shutil

from django.core.management.base import OutputWrapper

BAR_WIDTH = 30


class ConsoleHandler(logging.Handler):
    def __init__(self, stream, terminal: bool):
        super().__init__(logging.DEBUG)
        self.stream = stream
        self.terminal = terminal
        self._bar = ""
        self.mid_line = False
        """Whether someone else left the stream's line unfinished (`migrate`'s "Applying x...")."""

    def emit(self, record: logging.LogRecord) -> None:
        progress = getattr(record, "progress", None)
        if progress is not None:
            if self.terminal:
                self._bar = _bar(*progress, record.getMessage())
                self._write("\r" + self._bar + "\033[K")
            return
        if record.levelno < logging.INFO:
            return
        if self._bar:
            self._write("\r\033[K")
        self._write(self.format(record) + "\n")
        if getattr(record, "copy_done", False):
            self._bar = ""
        if self._bar:
            self._write(self._bar)

    def close(self) -> None:
        if self._bar:
            self._write("\n")
            self._bar = ""
        super().close()

    def _write(self, text: str) -> None:
        if self.mid_line:
            text, self.mid_line = "\n" + text.lstrip("\r"), False
        if isinstance(self.stream, OutputWrapper):
            self.stream.write(text, ending="")  # it would end every piece of a line with one
        else:
            self.stream.write(text)
        self.stream.flush()


class log_to:
    """Show the engine's log on a command's output (None: nowhere), with a progress bar on a
    terminal, unless logging is configured for it already; the handler, or None, is what
    `with` gives."""

    def __init__(self, stream):
        self.logger = logging.getLogger("online_migrations")
        self.handler = None
        if stream is not None and not self.logger.hasHandlers():
            self.handler = ConsoleHandler(stream, terminal=getattr(stream, "isatty", lambda: False)())
            self.handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))

    def __enter__(self) -> ConsoleHandler | None:
        if self.handler:
            self.level = self.logger.level
            self.logger.addHandler(self.handler)
            self.logger.setLevel(logging.DEBUG)
        return self.handler

    def __exit__(self, *exc):
        if self.handler:
            self.logger.removeHandler(self.handler)
            self.logger.setLevel(self.level)
            self.handler.close()


def _bar(rows: int, total: int, line: str) -> str:
    done = min(rows / total, 1.0) if total else 0.0
    filled = int(done * BAR_WIDTH)
    text = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {line.split(': ', 1)[-1]}"
    return text[: shutil.get_terminal_size((120, 20)).columns - 1]
