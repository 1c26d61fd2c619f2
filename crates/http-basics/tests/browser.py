#!/usr/bin/env python3
"""A real browser against the lesson's server: headless Chromium, driven
through the DevTools protocol over a pipe (--remote-debugging-pipe: JSON
messages ending in a NUL byte on fds 3 and 4, no port, no websocket).

    browser.py URL SCREENSHOT.png

Loads URL (the built-in site), clicks the form's submit button (a real
POST of application/x-www-form-urlencoded), waits for the echo page and
prints, one per line: the page's URL, then each row of its field table as
NAME<TAB>VALUE. Saves a screenshot of the echo page as a PNG. Every wait is
bounded (DEADLINE); Chromium is killed by its PID on every way out.
"""
import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

DEADLINE = 50.0  # seconds for the whole run (the test kills it at 60)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
]


class Browser:
    def __init__(self, binary, profile):
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()
        # Chromium reads fd 3 and writes fd 4. Move our ends out of the way
        # first, so that placing one cannot overwrite the other.
        high_r, high_w = os.dup(to_r), os.dup(from_w)
        while high_r < 10 or high_w < 10:
            high_r, high_w = os.dup(high_r), os.dup(high_w)

        def place():
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=place,
            pass_fds=(3, 4),
        )
        for fd in (to_r, from_w, high_r, high_w):
            os.close(fd)
        self.buffer = b""
        self.next_id = 0
        self.events = []
        self.started = time.monotonic()

    def left(self):
        left = DEADLINE - (time.monotonic() - self.started)
        if left <= 0:
            raise TimeoutError(f"Chromium did not finish within {DEADLINE} s")
        return left

    def message(self):
        while b"\0" not in self.buffer:
            ready, _, _ = select.select([self.from_r], [], [], self.left())
            if not ready:
                raise TimeoutError("no message from Chromium in time")
            data = os.read(self.from_r, 65536)
            if not data:
                raise EOFError("Chromium closed its DevTools pipe (did it crash?)")
            self.buffer += data
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, session=None, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self.to_w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self.message()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, name, session):
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == name and event.get("sessionId") == session:
                    return self.events.pop(i)
            self.events.append(self.message())

    def close(self):
        try:
            self.proc.kill()  # by PID, the process we started
        finally:
            self.proc.wait(timeout=10)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: browser.py URL SCREENSHOT.png")
    url, shot = sys.argv[1], sys.argv[2]
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        sys.exit("error: chromium is not installed (Debian: apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="http-basics-chromium-")
    browser = Browser(binary, profile)
    try:
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        browser.call("Page.enable", session)
        browser.call("Emulation.setDeviceMetricsOverride", session,
                     width=720, height=420, deviceScaleFactor=1, mobile=False)
        browser.call("Page.navigate", session, url=url)
        browser.wait_event("Page.loadEventFired", session)
        # A real click on the real button: the browser encodes the form.
        browser.call("Runtime.evaluate", session,
                     expression="document.querySelector('form button').click()")
        browser.wait_event("Page.loadEventFired", session)
        rows = browser.call("Runtime.evaluate", session, returnByValue=True, expression="""
            [location.href].concat([...document.querySelectorAll('#fields tr')]
                .map(r => r.cells[0].innerText + '\\t' + r.cells[1].innerText))
        """)["result"]["value"]
        png = browser.call("Page.captureScreenshot", session, format="png")["data"]
        with open(shot, "wb") as f:
            f.write(base64.b64decode(png))
        for row in rows:
            print(row)
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
