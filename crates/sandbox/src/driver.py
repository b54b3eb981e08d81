# The in-sandbox half of assistd's code_interpreter: a persistent interpreter that runs cells
# sent by the host. Protocol on private descriptors (user code may close or replace fd 0/1/2 and
# sys.std*): a request on PIN is a 4-byte big-endian length, a 32-byte nonce and the code
# (UTF-8); after
# each cell the end marker "\0assistd-end:<nonce>\0" goes to both POUT and PERR, which share
# the pipes of fd 1 and 2, so the host knows both pipes are drained up to the end of the cell.
# Only built-in modules at start-up (`_ast`, not `ast`; `traceback` when needed): every import
# here is paid by every session's start.
import _ast
import fcntl
import os
import resource
import signal
import sys
import time


def _private(fd):
    # High, out of the way of what the cell opens, but under RLIMIT_NOFILE.
    floor = max(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 16)
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)


PIN, POUT, PERR = _private(0), _private(1), _private(2)
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)
ME = os.getpid()
CELL = {"__name__": "__main__", "__builtins__": __builtins__}


def _read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(PIN, n - len(buf))
        if not chunk:
            os._exit(0)
        buf += chunk
    return buf


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def _run(code):
    try:
        tree = compile(code, "<cell>", "exec", _ast.PyCF_ONLY_AST)
        last = None
        if tree.body and isinstance(tree.body[-1], _ast.Expr):
            last = _ast.Expression(tree.body.pop().value)
        exec(compile(tree, "<cell>", "exec"), CELL)
        if last is not None:
            value = eval(compile(last, "<cell>", "eval"), CELL)
            if value is not None:
                print(repr(value))
    except BaseException as e:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too
        tb = e.__traceback__
        # Drop the driver's own frames.
        while tb is not None and tb.tb_frame.f_code.co_filename != "<cell>":
            tb = tb.tb_next
        try:
            import traceback

            traceback.print_exception(type(e), e, tb)
        except BaseException:  # noqa: BLE001
            pass


def _kill_others():
    # Nothing the cell started outlives it: every process of this pid namespace but init (1)
    # and this one.
    for _ in range(50):
        found = False
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            if pid in (1, ME):
                continue
            try:
                os.kill(pid, signal.SIGKILL)
                found = True
            except (ProcessLookupError, PermissionError):
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0] != 0:
                pass
        except ChildProcessError:
            pass
        if not found:
            return
        time.sleep(0.002)


def _flush():
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass


def main():
    while True:
        size = int.from_bytes(_read_exact(4), "big")
        request = _read_exact(size)
        marker = b"\0assistd-end:" + request[:32] + b"\0"
        try:
            _run(request[32:].decode("utf-8", "replace"))
            _flush()
        finally:
            if os.getpid() != ME:
                # A process the cell forked fell through to here: it is not the driver.
                os._exit(0)
        _kill_others()
        _write_all(POUT, marker)
        _write_all(PERR, marker)


main()
