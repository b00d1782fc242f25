"""What a person running the command sees: the engine's log lines, and on a terminal a live
progress bar below them, drawn from the progress records the copy sends twice a second."""

import logging
import shutil

BAR_WIDTH = 30


class ConsoleHandler(logging.Handler):
    def __init__(self, stream, terminal: bool):
        super().__init__(logging.DEBUG)
        self.stream = stream
        self.terminal = terminal
        self._bar = ""

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
        if self._bar and not record.getMessage().endswith(" swapped in the new table"):
            self._write(self._bar)

    def close(self) -> None:
        if self._bar:
            self._write("\n")
            self._bar = ""
        super().close()

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def _bar(rows: int, total: int, line: str) -> str:
    done = min(rows / total, 1.0) if total else 0.0
    filled = int(done * BAR_WIDTH)
    text = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {line.split(': ', 1)[-1]}"
    return text[: shutil.get_terminal_size((120, 20)).columns - 1]
