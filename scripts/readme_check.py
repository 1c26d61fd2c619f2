#!/usr/bin/env python3
"""Run every ```console block of the READMEs and compare it with what it shows.

    scripts/readme_check.py [FILE...]    # default: README.md, crates/*/README.md
    scripts/readme_check.py --self-test  # prove that the checker can fail

The convention (also in the lessons' contributor notes):
- Each block runs in a fresh network namespace with only `lo`, up (IPv4 and
  IPv6), so a server can use its default port. cwd is the repository root.
- `$ CMD` runs CMD with bash, stdin from /dev/null, stdout and stderr merged
  as a terminal shows them. The lines after it, up to the next `$ ` line, are
  its expected output. A command that exits non-zero must show it, e.g.
  `$ cmd; echo "exit $?"`. Each command is a new bash: `cd` does not carry.
- `$ CMD &` starts a background job (the "other terminal"); the lines right
  after it are the first lines it prints, waited for. `$ kill -INT %N` sends
  SIGINT to job N (1, 2, ... in start order), waits for it to end, and the
  lines after it are everything the job printed since its first lines. Jobs
  still running at the end of the block are killed, their output unchecked.
- Lines match one by one. `[..]` in a line matches any text; a line that is
  just `...` matches any number of lines. `[PORT]`, `[ADDR]` (127.0.0.1:40123
  or [::1]:40123), `[N]` (an integer) and `[FLOAT]` (a decimal number) match
  what they name. Anything else must match exactly, trailing spaces included.
- Every wait is bounded by TIMEOUT seconds: a command, a job's first lines,
  a job's stop after SIGINT. A job is killed (by its process group) on every
  way out of a block. It needs root for `unshare --net`: without it, every
  block fails; nothing is skipped.
The last line is `N passed, M failed` (a block is one check); the exit code
is non-zero if any block failed.
"""
import difflib
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = float(os.environ.get("README_CHECK_TIMEOUT", "30"))  # seconds per wait
ENV = dict(os.environ, CARGO_NET_OFFLINE="true", CARGO_TERM_COLOR="never")
MISMATCH = 3  # the exit code of a block that ran and did not match

# ---------------------------------------------------------------- parsing


class Step:
    """One `$ ` line of a block: what to run and the lines it should print."""

    def __init__(self, line_no, command):
        self.line_no, self.text, self.command, self.expected = line_no, command, command, []
        kill = command and re.fullmatch(r"kill -INT %(\d+)", command)
        self.kill_job = int(kill.group(1)) if kill else None
        self.background = bool(command) and not kill and command.endswith("&") \
            and not command.endswith("&&")
        if self.background:
            self.command = command[:-1].rstrip()


def console_blocks(path):
    """Yield (line number of the ```console fence, [Step]) for each block."""
    lines = path.read_text().split("\n")
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```console":
            i += 1
            continue
        fence, steps = i + 1, []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            if lines[i].startswith("$ "):
                steps.append(Step(i + 1, lines[i][2:].strip()))
            elif steps:
                steps[-1].expected.append(lines[i])
            else:  # output before any command: the block cannot be checked
                steps.append(Step(i + 1, None))
            i += 1
        yield fence, steps
        i += 1


# ---------------------------------------------------------------- matching

PLACEHOLDERS = {
    "[..]": r".*",
    "[PORT]": r"\d{1,5}",
    "[ADDR]": r"(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.%\w]+\]):\d{1,5}",
    "[N]": r"-?\d+",
    "[FLOAT]": r"-?\d+(?:\.\d+)?",
}
SPLIT = re.compile("(" + "|".join(re.escape(p) for p in PLACEHOLDERS) + ")")
ANY_LINES = "..."


def line_pattern(text):
    """A README line as a regex: placeholders become patterns, the rest literal."""
    parts = SPLIT.split(text)
    return re.compile("".join(PLACEHOLDERS.get(p) or re.escape(p) for p in parts))


def matches(expected, actual):
    """Does the list of actual lines match the list of expected lines?"""
    if not expected:
        return not actual
    first, rest = expected[0], expected[1:]
    if first == ANY_LINES:  # zero or more lines, then the rest must match
        return any(matches(rest, actual[k:]) for k in range(len(actual) + 1))
    return bool(actual) and line_pattern(first).fullmatch(actual[0]) is not None \
        and matches(rest, actual[1:])


def diff(expected, actual):
    """A unified diff; actual lines that match an expected line show its text."""
    def shown(line):
        for e in expected:
            if e != ANY_LINES and line_pattern(e).fullmatch(line):
                return e
        return line
    return "\n".join(difflib.unified_diff(
        expected, [shown(a) for a in actual], "expected (README)", "actual", lineterm=""))


# ---------------------------------------------------------------- running


def start(command):
    """Start `bash -c COMMAND` in its own process group, output merged."""
    return subprocess.Popen(
        ["bash", "-c", command], cwd=ROOT, env=ENV, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def kill_group(proc, sig=signal.SIGKILL):
    """Signal the whole process group we started (its PID is the group's id)."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass  # it has already ended


class Job:
    """A background job: a thread reads its output lines into a queue."""

    def __init__(self, command):
        self.proc = start(command)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.put(raw.decode(errors="replace").rstrip("\n"))
        self.lines.put(None)  # end of output

    def read_until(self, done, deadline):
        """Collect lines until done(lines), the end of output, or the deadline."""
        got = []
        while not done(got):
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            got.append(line)
        return got


def run_block(steps):
    """Run one block's steps; return None if it matched, else what went wrong."""
    jobs = []
    try:
        for step in steps:
            if step.command is None:
                return (f"line {step.line_no}: text before the first `$ ` line; a console block "
                        "starts with `$ CMD` (use `$ CMD &` for another terminal)")
            where = f"line {step.line_no}: $ {step.text}"
            if step.kill_job is not None:  # `$ kill -INT %N`: stop a job, check the rest
                if not 1 <= step.kill_job <= len(jobs) or jobs[step.kill_job - 1] is None:
                    return f"{where}\nthere is no running job %{step.kill_job}"
                job = jobs[step.kill_job - 1]
                jobs[step.kill_job - 1] = None
                kill_group(job.proc, signal.SIGINT)
                try:
                    job.proc.wait(timeout=TIMEOUT)
                except subprocess.TimeoutExpired:
                    kill_group(job.proc)
                    return f"{where}\nthe job did not end within {TIMEOUT:g} s of SIGINT"
                actual = job.read_until(lambda _: False, time.monotonic() + TIMEOUT)
                where += f"\n(what job %{step.kill_job} printed after its first lines)"
            elif step.background:  # `$ CMD &`: start a job, wait for its first lines
                job = Job(step.command)
                jobs.append(job)
                # Stop waiting as soon as the lines match, or when more lines
                # cannot help (no `...` and already as many as expected).
                actual = job.read_until(
                    lambda got: matches(step.expected, got) or (
                        ANY_LINES not in step.expected and len(got) >= len(step.expected)),
                    time.monotonic() + TIMEOUT)
                where += f"\n(the first lines of job %{len(jobs)}, waited for {TIMEOUT:g} s at most)"
                if not matches(step.expected, actual):  # show a little more of what it says
                    actual += job.read_until(lambda got: len(got) >= 20, time.monotonic() + 1)
            else:  # `$ CMD`: run it to the end
                proc = start(step.command)
                try:
                    out, _ = proc.communicate(timeout=TIMEOUT)
                except subprocess.TimeoutExpired:
                    kill_group(proc)
                    proc.communicate(timeout=5)
                    return f"{where}\ndid not finish within {TIMEOUT:g} s"
                actual = out.decode(errors="replace").split("\n")
                if actual[-1] == "":
                    actual.pop()  # the text after the last newline
                if proc.returncode != 0:
                    return (f"{where}\nexited {proc.returncode}; a block shows a failing "
                            f"command as `$ CMD; echo \"exit $?\"`\n" + "\n".join(actual)).rstrip()
            if not matches(step.expected, actual):
                return f"{where}\n{diff(step.expected, actual)}"
        return None
    finally:  # on every way out: no job outlives its block
        for job in jobs:
            if job is not None:
                kill_group(job.proc)
                job.proc.wait()


def display(path):
    """A README's name as the learner knows it: relative to the repository."""
    return os.path.relpath(path, ROOT) if path.is_relative_to(ROOT) else str(path)


def check_block_here(path, fence):
    """Child process, already in its own network namespace: run one block."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))  # so `finally` kills jobs
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    steps = dict(console_blocks(path))[fence]
    problem = run_block(steps)
    if problem is None:
        return 0
    print(f"FAIL {display(path)}:{fence}\n" + "\n".join("     " + l for l in problem.split("\n")))
    return MISMATCH


def check_files(paths):
    """Run every block of every file, each in a new network namespace."""
    passed = failed = 0
    if any(p.is_relative_to(ROOT) for p in paths):  # blocks run the lessons' binaries
        if subprocess.run(["cargo", "build", "--workspace", "--bins", "--quiet"],
                          cwd=ROOT, env=ENV).returncode != 0:
            print("FAIL cargo build --workspace --bins\n0 passed, 1 failed")
            return 1
    for path in paths:
        for fence, steps in console_blocks(path):
            name = display(path)
            child = subprocess.Popen(
                ["unshare", "--net", "--", sys.executable, __file__, "--block", str(path), str(fence)])
            try:  # the child bounds each step; this bounds the child
                rc = child.wait(timeout=TIMEOUT * (len(steps) + 1) + 10)
            except subprocess.TimeoutExpired:
                child.terminate()  # the child kills its jobs on SIGTERM
                try:
                    rc = child.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    child.kill()
                    rc = child.wait()
            if rc == 0:
                passed += 1
                print(f"ok   {name}:{fence}")
            else:
                failed += 1
                if rc != MISMATCH:
                    print(f"FAIL {name}:{fence}: the block could not run (exit {rc}); "
                          "it needs root for `unshare --net` and `ip`")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


# ---------------------------------------------------------------- self-test

GOOD = """\
```console
$ echo "listening on 127.0.0.1:40123"; echo "echoed 2000 bytes in 0.045 s"
listening on [ADDR]
echoed [N] bytes in [FLOAT] s
$ printf 'one\\ntwo\\nthree\\n'; echo oops >&2
one
...
[..]oops
$ bash -c 'exit 3'; echo "exit $?"
exit 3
$ python3 -c 'import socket; s = socket.create_server(("::1", 0), family=socket.AF_INET6); print("bound", s.getsockname()[0])'
bound ::1
$ ip -o link | wc -l
1
$ python3 -u -c 'import signal; signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT]); print("ready"); signal.sigwait([signal.SIGINT]); print("stopped")' &
ready
$ kill -INT %1
stopped
```
"""
BAD = """\
```console
$ echo hello
goodbye
```
```console
$ false
```
```console
$ echo $$ > {tmp}/job.pid; exec sleep 600 &
a line that never comes
```
```console
$ sleep 600
```
```console
$ python3 -u -c 'import signal; signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT]); print("ready"); signal.sigwait([signal.SIGINT]); print("stopped")' &
ready
$ kill -INT %1
crashed
```
"""


def self_test():
    """The checker passes a correct README and fails each wrong block, by name."""
    os.environ["README_CHECK_TIMEOUT"] = "2"  # the hanging blocks fail in 2 s
    checks = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "good.md").write_text(GOOD)
        (Path(tmp) / "bad.md").write_text(BAD.format(tmp=tmp))
        runs = {}
        for name in ("good.md", "bad.md"):
            done = subprocess.run([sys.executable, __file__, f"{tmp}/{name}"],
                                  capture_output=True, text=True, timeout=120)
            runs[name] = done.returncode, done.stdout + done.stderr
            print(f"--- readme_check.py {name} (exit {done.returncode}):\n{runs[name][1]}")
        rc, out = runs["good.md"]
        checks.append(("placeholders, ::1, a job and exit codes pass", rc == 0 and out.endswith("1 passed, 0 failed\n")))
        rc, out = runs["bad.md"]
        checks.append(("five bad blocks fail, exit 1", rc == 1 and out.endswith("0 passed, 5 failed\n")))
        checks.append(("a wrong line names file, block, command and diff",
                       all(s in out for s in (f"FAIL {tmp}/bad.md:1", "line 2: $ echo hello", "-goodbye", "+hello"))))
        checks.append(("an unshown non-zero exit fails", f"FAIL {tmp}/bad.md:5" in out and "exited 1" in out))
        checks.append(("a job's missing first line fails", f"FAIL {tmp}/bad.md:8" in out))
        checks.append(("a hanging command fails after the timeout", "did not finish within 2 s" in out))
        checks.append(("a job's output after SIGINT is checked", "+stopped" in out))
        pid = int((Path(tmp) / "job.pid").read_text())
        checks.append(("the job that never printed is killed", not Path(f"/proc/{pid}").exists()))
    for name, ok in checks:
        print(("ok   " if ok else "FAIL ") + "readme_check self-test: " + name)
    failed = sum(1 for _, ok in checks if not ok)
    print(f"{len(checks) - failed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def main(args):
    if args[:1] == ["--block"]:  # internal: one block, inside its namespace
        return check_block_here(Path(args[1]), int(args[2]))
    if args == ["--self-test"]:
        return self_test()
    if any(a.startswith("-") for a in args):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    paths = [Path(a).resolve() for a in args] or \
        [ROOT / "README.md", *sorted(ROOT.glob("crates/*/README.md"))]
    return check_files(paths)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
