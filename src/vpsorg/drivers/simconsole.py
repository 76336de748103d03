"""The simulator's serial console: a few boot lines, a getty's login prompt, a tiny shell.

It behaves like a tty in cooked mode, enough for tests and the panel's terminal to have
something real to talk to: input is echoed (not the password), Enter (CR or LF) ends a line,
Backspace erases, Ctrl-C abandons the line. Log in as SIM_CONSOLE_USER with
SIM_CONSOLE_PASSWORD; the shell answers `hostname` (the server's hostname, its FQDN),
`whoami`, `echo ...`, and `exit`/`logout` (back to the login prompt).
"""

import asyncio

SIM_CONSOLE_USER = "vpsorg"
SIM_CONSOLE_PASSWORD = "vpsorg"

BACKSPACES = (0x7F, 0x08)
CTRL_C = 0x03
CTRL_D = 0x04


class SimConsole:
    """One session on a simulated machine's serial console (drivers.base.Console)."""

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname
        self._out: asyncio.Queue[bytes] = asyncio.Queue()
        self._line = bytearray()
        self._state = "login"  # login -> password -> shell -> (exit) login
        self._user = ""
        self._last_cr = False
        self._closed = False
        self._emit(
            "[    0.000000] Linux version 6.1.0-sim-amd64 (vpsorg simulator)\r\n"
            "[    0.412345] Serial: 8250/16550 driver, 4 ports, IRQ sharing enabled\r\n"
            "[    1.234567] Run /sbin/init as init process\r\n"
            "[  OK  ] Reached target multi-user.target - Multi-User System.\r\n"
        )
        self._banner()

    def _emit(self, text: str) -> None:
        if not self._closed:
            self._out.put_nowait(text.encode())

    def _banner(self) -> None:
        self._emit(f"\r\nDebian GNU/Linux 12 {self.hostname} ttyS0\r\n\r\n{self.hostname} login: ")

    def _prompt(self) -> None:
        self._emit(f"{self._user}@{self.hostname.split('.')[0]}:~$ ")

    async def read(self) -> bytes:
        if self._closed and self._out.empty():
            return b""
        return await self._out.get()

    async def write(self, data: bytes) -> None:
        for byte in data:
            self._key(byte)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._out.put_nowait(b"")  # wakes a reader: the end

    def _key(self, byte: int) -> None:
        """One keystroke, as the tty's line discipline and the program reading it see it."""
        if byte == 0x0A and self._last_cr:  # CR LF: one Enter
            self._last_cr = False
            return
        self._last_cr = byte == 0x0D
        secret = self._state == "password"
        if byte in (0x0D, 0x0A):
            self._emit("\r\n")
            line = self._line.decode(errors="replace")
            self._line.clear()
            self._enter(line)
        elif byte in BACKSPACES:
            if self._line:
                self._line.pop()
                if not secret:
                    self._emit("\b \b")
        elif byte == CTRL_C:
            self._line.clear()
            self._emit("^C\r\n")
            self._reprompt()
        elif byte == CTRL_D and not self._line and self._state == "shell":
            self._emit("logout\r\n")
            self._logout()
        elif byte >= 0x20:
            self._line.append(byte)
            if not secret:
                self._emit(chr(byte) if byte < 0x80 else "?")

    def _reprompt(self) -> None:
        if self._state == "shell":
            self._prompt()
        else:
            self._state = "login"
            self._emit(f"{self.hostname} login: ")

    def _logout(self) -> None:
        self._state, self._user = "login", ""
        self._banner()

    def _enter(self, line: str) -> None:
        if self._state == "login":
            if line.strip():
                self._user, self._state = line.strip(), "password"
                self._emit("Password: ")
            else:
                self._emit(f"{self.hostname} login: ")
        elif self._state == "password":
            if self._user == SIM_CONSOLE_USER and line == SIM_CONSOLE_PASSWORD:
                self._state = "shell"
                self._emit(f"Linux {self.hostname} 6.1.0-sim-amd64 x86_64\r\n\r\n")
                self._prompt()
            else:
                self._state, self._user = "login", ""
                self._emit(f"\r\nLogin incorrect\r\n{self.hostname} login: ")
        else:
            self._run(line.strip())

    def _run(self, command: str) -> None:
        name, _, rest = command.partition(" ")
        if name in ("exit", "logout"):
            self._emit("logout\r\n")
            self._logout()
            return
        answers = {"": None, "hostname": self.hostname, "whoami": self._user, "echo": rest}
        if name in answers:
            answer = answers[name]
            if answer is not None:
                self._emit(answer + "\r\n")
        else:
            self._emit(f"-bash: {name}: command not found\r\n")
        self._prompt()
