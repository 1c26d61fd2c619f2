#!/usr/bin/env python3
"""Run every ```console block of the READMEs and compare it with what it shows.

    scripts/readme_check.py [FILE...]    # default: README.md, crates/*/README.md
    scripts/readme_check.py --self-test  # prove that the checker can fail

How a block is read and run (the convention lesson authors write for):
- Each block runs in a fresh network namespace with only `lo`, up (IPv4 and
  IPv6), so a server can use its default port. cwd is the repository root.
- `$ CMD` runs CMD with bash, stdin from /dev/null, stdout and stderr merged
  as a terminal shows them. The lines after it, up to the next `$ ` line, are
  its expected output. A command that exits non-zero must show it, e.g.
  `$ cmd; echo "exit $?"`. Each command is a new bash: `cd` does not carry.
- `$ CMD &` starts a background job (the "other terminal"); the lines right
  after it are the first lines it prints, waited for. `$ kill -INT %N` sends
  SIGINT to job N (1, 2, ... in start order), waits for it to end, and the
  lines after it are everything the job printed since its first lines.
  `$ wait %N` is the same for a job that ends by itself (no signal). Jobs
  still running at the end of the block are killed, their output unchecked.
- Lines match one by one. `[..]` in a line matches any text; a line that is
  just `...` matches any number of lines. `[PORT]`, `[ADDR]` (127.0.0.1:40123
  or [::1]:40123), `[N]` (an integer) and `[FLOAT]` (a decimal number) match
  what they name. Anything else must match exactly, trailing spaces included.
- Every wait is bounded by TIMEOUT (30 s; README_CHECK_TIMEOUT changes it):
  a command, a job's first lines, a job's stop after SIGINT. What we start
  is killed (its process group, by PID) on every way out of a block.
- Each block also gets a /tmp of its own. It needs root for `unshare --net
  --mount`; without it every block fails. Nothing is skipped.
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
TIMEOUT = float(os.environ.get("README_CHECK_TIMEOUT", "30"))  # seconds, per wait
ENV = dict(os.environ, CARGO_NET_OFFLINE="true", CARGO_TERM_COLOR="never")
MISMATCH = 3  # a block's exit code when it ran and did not match

# ------------------------------------------------------------------ reading


class Step:
    """One `$ ` line of a block: what to run, and the lines it should print."""

    def __init__(self, line_no, text):
        self.line_no, self.text, self.expected = line_no, text, []
        ends = re.fullmatch(r"(kill -INT|wait) %(\d+)", text or "")
        self.end_job = int(ends.group(2)) if ends else None  # `kill -INT %N`, `wait %N`
        self.interrupt = bool(ends) and ends.group(1) == "kill -INT"
        self.background = not ends and (text or "").endswith("&") and not text.endswith("&&")
        self.command = text[:-1].rstrip() if self.background else text


def console_blocks(path):
    """Yield (line number of the ```console fence, [Step]) for each block."""
    lines = path.read_text().split("\n")
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```console":
            fence, steps = i + 1, []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                if lines[i].startswith("$ "):
                    steps.append(Step(i + 1, lines[i][2:].strip()))
                elif steps:
                    steps[-1].expected.append(lines[i])
                else:  # output before any command (a `terminal 1$` prompt, say)
                    steps.append(Step(i + 1, None))
                i += 1
            yield fence, steps
        i += 1


# ----------------------------------------------------------------- matching

PLACEHOLDERS = {
    "[..]": r".*",
    "[PORT]": r"\d{1,5}",
    "[ADDR]": r"(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.%\w]+\]):\d{1,5}",
    "[N]": r"-?\d+",
    "[FLOAT]": r"-?\d+(?:\.\d+)?",
}
PLACEHOLDER = re.compile("(" + "|".join(re.escape(p) for p in PLACEHOLDERS) + ")")
ANY_LINES = "..."


def line_pattern(text):
    """A README line as a regex: placeholders become patterns, the rest literal."""
    parts = PLACEHOLDER.split(text)
    return re.compile("".join(PLACEHOLDERS.get(p) or re.escape(p) for p in parts))


def matches(expected, actual):
    """Do the actual lines match the expected ones?"""
    if not expected:
        return not actual
    first, rest = expected[0], expected[1:]
    if first == ANY_LINES:  # any number of lines, then the rest must match
        return any(matches(rest, actual[k:]) for k in range(len(actual) + 1))
    return bool(actual) and line_pattern(first).fullmatch(actual[0]) is not None \
        and matches(rest, actual[1:])


def diff(expected, actual):
    """A unified diff; an actual line that matches an expected one shows its text."""
    def shown(line):
        return next((e for e in expected
                     if e != ANY_LINES and line_pattern(e).fullmatch(line)), line)
    return "\n".join(difflib.unified_diff(
        expected, [shown(a) for a in actual], "expected (README)", "actual", lineterm=""))


# ------------------------------------------------------------------ running


class Block:
    """Runs one block's steps and keeps every process it starts."""

    def __init__(self):
        self.procs = []  # all we started, killed at the end
        self.jobs = []  # background jobs: (process, queue of its output lines)

    def start(self, command):
        """`bash -c COMMAND` in its own process group, stdout+stderr in one pipe."""
        proc = subprocess.Popen(
            ["bash", "-c", command], cwd=ROOT, env=ENV, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    @staticmethod
    def signal_group(proc, sig):
        """Signal the process group we started (its id is the leader's PID)."""
        if proc.poll() is None:  # not reaped yet, so the PID is still ours
            os.killpg(proc.pid, sig)

    def kill_all(self):
        for proc in self.procs:
            self.signal_group(proc, signal.SIGKILL)
            proc.wait()

    def run(self, step):
        """`$ CMD`: run it to the end; its output lines, or raise Failed."""
        proc = self.start(step.command)
        try:
            out, _ = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Failed(f"did not finish within {TIMEOUT:g} s")
        lines = out.decode(errors="replace").split("\n")
        if lines[-1] == "":
            lines.pop()  # what follows the last newline
        if proc.returncode != 0:
            raise Failed(f"exited {proc.returncode}; a block shows a failing command as "
                         f"`$ CMD; echo \"exit $?\"`", *lines)
        return lines

    def start_job(self, step):
        """`$ CMD &`: start it, return its first lines once they match (or time out)."""
        proc, lines = self.start(step.command), queue.Queue()
        self.jobs.append((proc, lines))

        def read():  # a thread per job, so that waiting for a line can time out
            for raw in proc.stdout:
                lines.put(raw.decode(errors="replace").rstrip("\n"))
            lines.put(None)  # the end of its output
        threading.Thread(target=read, daemon=True).start()
        # Stop waiting as soon as the lines match, or when more lines cannot
        # help (no `...` and already as many lines as the README shows).
        got = self.read_lines(lines, lambda got: matches(step.expected, got) or (
            ANY_LINES not in step.expected and len(got) >= len(step.expected)))
        if not matches(step.expected, got):  # show a little more of what it said
            got += self.read_lines(lines, lambda more: len(more) >= 20, wait=1)
        return got

    def end_job(self, step):
        """`$ kill -INT %N` (SIGINT) or `$ wait %N`: wait for job N to end,
        return what it printed after its first lines."""
        n = step.end_job
        if not 1 <= n <= len(self.jobs) or self.jobs[n - 1] is None:
            raise Failed(f"there is no running job %{n}")
        (proc, lines), self.jobs[n - 1] = self.jobs[n - 1], None
        if step.interrupt:
            self.signal_group(proc, signal.SIGINT)
        try:
            proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Failed(f"job %{n} did not end within {TIMEOUT:g} s")
        return self.read_lines(lines, lambda _: False)  # to the end of its output

    @staticmethod
    def read_lines(lines, done, wait=TIMEOUT):
        """Take lines from a job's queue until done(lines), its end, or `wait` s."""
        got, deadline = [], time.monotonic() + wait
        while not done(got):
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            got.append(line)
        return got


class Failed(Exception):
    """A step went wrong; the lines say how."""


def run_block(steps):
    """Run a block; None if every step printed what it shows, else the story."""
    block = Block()
    try:
        for step in steps:
            if step.text is None:
                return (f"line {step.line_no}: output before the first `$ ` line; a console "
                        "block starts with `$ CMD` (another terminal: `$ CMD &`)")
            where = f"line {step.line_no}: $ {step.text}"
            try:
                if step.end_job is not None:
                    actual = block.end_job(step)
                    where += f"\n(what job %{step.end_job} printed after its first lines)"
                elif step.background:
                    actual = block.start_job(step)
                    where += (f"\n(the first lines of job %{len(block.jobs)}, "
                              f"waited for {TIMEOUT:g} s at most)")
                else:
                    actual = block.run(step)
            except Failed as failure:
                return "\n".join([where, *failure.args]).rstrip()
            if not matches(step.expected, actual):
                return f"{where}\n{diff(step.expected, actual)}"
        return None
    finally:  # on every way out: nothing we started outlives its block
        block.kill_all()


def display(path):
    """A README's name as a learner knows it: relative to the repository."""
    return os.path.relpath(path, ROOT) if path.is_relative_to(ROOT) else str(path)


def check_block_here(path, fence):
    """In the child, already in its own network namespace: run one block."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))  # so `finally` runs
    steps = dict(console_blocks(path))[fence]  # read before /tmp is replaced
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # A /tmp of its own: a transcript may write /tmp/echo.pcap as a learner
    # would, and two runs of the checker at once must not share it. A clone
    # that itself lives under /tmp (CI's) is carried over: parked on /mnt,
    # then moved back to its own path in the new /tmp.
    under_tmp = ROOT.is_relative_to("/tmp")
    if under_tmp:
        subprocess.run(["mount", "--bind", str(ROOT), "/mnt"], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=1777", "tmpfs", "/tmp"], check=True)
    if under_tmp:
        ROOT.mkdir(parents=True)
        subprocess.run(["mount", "--move", "/mnt", str(ROOT)], check=True)
    problem = run_block(steps)
    if problem is None:
        return 0
    print(f"FAIL {display(path)}:{fence}", *("     " + l for l in problem.split("\n")), sep="\n")
    return MISMATCH


def run_in_namespace(path, fence, steps):
    """Run one block in a child process in a new network namespace. Returns
    0 (passed), MISMATCH (failed; the child said why) or why it could not run."""
    try:  # `unshare --net` makes the namespace, then execs the child in it
        child = subprocess.Popen(["unshare", "--net", "--mount", "--propagation", "private", "--",
                                  sys.executable, __file__,
                                  "--block", str(path), str(fence)])
    except OSError as e:
        return f"cannot start `unshare` (util-linux): {e}"
    try:  # the child bounds each of its waits; this bounds the child
        rc = child.wait(timeout=TIMEOUT * (2 * len(steps) + 1))
    except subprocess.TimeoutExpired:
        child.terminate()  # it kills what it started, then exits
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return "the block did not finish in time"
    if rc in (0, MISMATCH):
        return rc
    return (f"the block could not run (exit {rc}): it needs root, "
            "for `unshare --net --mount`, `ip link set lo up` and a tmpfs on /tmp")


def check_files(paths):
    """Check every block of every file; the last line counts them."""
    if any(p.is_relative_to(ROOT) for p in paths):  # the blocks run the lessons
        build = ["cargo", "build", "--workspace", "--bins", "--quiet"]
        try:
            built = subprocess.run(build, cwd=ROOT, env=ENV).returncode == 0
        except OSError:  # no cargo at all
            built = False
        if not built:
            print(f"FAIL {' '.join(build)}\n0 passed, 1 failed")
            return 1
    passed = failed = 0
    for path in paths:
        for fence, steps in console_blocks(path):
            result = run_in_namespace(path, fence, steps)
            if result == 0:
                passed += 1
                print(f"ok   {display(path)}:{fence}")
            else:
                failed += 1
                if result != MISMATCH:
                    print(f"FAIL {display(path)}:{fence}: {result}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


# ---------------------------------------------------------------- self-test

SELF_TEST = Path(__file__).resolve().parent / "readme_check_selftest"


def self_test():
    """The checker passes a right README and fails each wrong block, by name."""
    os.environ["README_CHECK_TIMEOUT"] = "2"  # the hanging blocks fail in 2 s
    # Not under /tmp: each block gets a /tmp of its own, and the job's PID
    # file must be seen from here.
    (ROOT / "target").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "target") as tmp:
        good, bad, pidfile = Path(tmp, "good.md"), Path(tmp, "bad.md"), Path(tmp, "job.pid")
        good.write_text((SELF_TEST / "good.md").read_text())
        bad.write_text((SELF_TEST / "bad.md").read_text().replace("PIDFILE", str(pidfile)))
        out = {}
        for md in (good, bad):
            done = subprocess.run([sys.executable, __file__, str(md)],
                                  capture_output=True, text=True, timeout=120)
            out[md] = (done.returncode, done.stdout + done.stderr)
            print(f"--- readme_check.py {md.name} (exit {done.returncode}), what it printed:")
            print("".join("    | " + line for line in out[md][1].splitlines(True)))
        job_pid = int(pidfile.read_text()) if pidfile.exists() else None
    (good_rc, good_out), (bad_rc, bad_out) = out[good], out[bad]
    fences = [fence for fence, _ in console_blocks(SELF_TEST / "bad.md")]
    checks = {
        "placeholders, ::1, a job and an exit code pass":
            good_rc == 0 and good_out.endswith("\n1 passed, 0 failed\n"),
        "every wrong block fails, named by file and line; exit 1":
            bad_rc == 1 and bad_out.endswith(f"\n0 passed, {len(fences)} failed\n")
            and all(f"FAIL {display(bad)}:{fence}\n" in bad_out for fence in fences),
        "a wrong line: the command and a diff":
            all(s in bad_out for s in ("$ echo hello\n", "-goodbye\n", "+hello\n")),
        "a non-zero exit must be shown": "exited 1; a block shows" in bad_out,
        "a job's first lines are waited for, not forever": "-a line that never comes" in bad_out,
        "a hanging command fails after the timeout": "did not finish within 2 s" in bad_out,
        "a job's output after SIGINT is checked": "+stopped\n" in bad_out,
        "[ADDR] wants a numeric address": "+listening on localhost:7000" in bad_out,
        "output before the first $ line fails": "output before the first" in bad_out,
        "`wait %N` is bounded too": "job %1 did not end within 2 s" in bad_out,
        "the job that never printed was killed":
            job_pid is not None and not Path(f"/proc/{job_pid}").exists(),
    }
    for name, ok in checks.items():
        print(("ok   " if ok else "FAIL ") + "readme_check self-test: " + name)
    failed = sum(not ok for ok in checks.values())
    print(f"{len(checks) - failed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def main(args):
    if args[:1] == ["--block"]:  # internal: one block, in its namespace
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
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends us quietly
    sys.exit(main(sys.argv[1:]))
