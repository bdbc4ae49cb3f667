#!/usr/bin/env python3
"""Open a synthcti HTML page in headless Chromium and check it as a reader would.

Talks to Chromium over the DevTools protocol on a pipe (`--remote-debugging-pipe`: fd 3
in, fd 4 out, NUL-separated JSON), so it needs no port, no websocket library and nothing
but the Python standard library. Checks, on the page loaded from disk:

- no console error, no uncaught exception, no error logged (CSP violations and failed
  loads included);
- no network request besides the page itself;
- `--count SELECTOR N` (and `--points N`, i.e. `--count 'circle[data-kind]' N`): that many
  elements match;
- when the page has a map (`#map-all`): moving the mouse onto a point shows its text;
- when the page has a rows table (`#rows-body`; `--require-rows` makes it mandatory):
  typing a word into `#row-search`, key by key, narrows the rows to those containing it,
  and picking a status in `#f-status` narrows them to that status.

`--screenshot PNG` saves a PNG of the viewport (`--viewport WxH`, default 1280x1000),
scrolled to `--at SELECTOR` if given. Prints one line per check; exit 0 when all pass,
1 when one fails, 2 when Chromium cannot be run.
"""

import argparse
import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse


class Browser:
    """A headless Chromium driven over its DevTools pipe."""

    def __init__(self, binary, timeout):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="synthcti-chromium-")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()
        flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--remote-debugging-pipe",
            "--user-data-dir=" + self.profile, "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
            "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
            "about:blank",
        ]
        # bash puts the pipe ends on fds 3 and 4 of the exec'd Chromium.
        script = 'exec "$@" 3<&%d 4>&%d' % (to_chrome_r, from_chrome_w)
        self.proc = subprocess.Popen(
            ["bash", "-c", script, "bash", binary] + flags,
            pass_fds=(to_chrome_r, from_chrome_w),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from Chromium")
            ready, _, _ = select.select([self.from_chrome], [], [], left)
            if ready:
                chunk = os.read(self.from_chrome, 1 << 16)
                if not chunk:
                    raise RuntimeError("Chromium closed its DevTools pipe")
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=True):
        """Sends a command and waits for its answer (events meanwhile are kept)."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def wait_event(self, method, seconds):
        """Waits for an event (returns it) or `seconds` of quiet (returns None)."""
        deadline = time.monotonic() + seconds
        for e in self.events:
            if e["method"] == method:
                return e
        while True:
            try:
                m = self._read_message(deadline)
            except TimeoutError:
                return None
            if "method" in m:
                self.events.append(m)
                if m["method"] == method:
                    return m

    def evaluate(self, expression):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError("evaluate: %s" % r["exceptionDetails"].get("text"))
        return r.get("result", {}).get("value")

    def type_text(self, text):
        for ch in text:
            self.send("Input.dispatchKeyEvent", {"type": "keyDown", "text": ch, "key": ch, "unmodifiedText": ch})
            self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": ch})

    def close(self):
        try:
            self.send("Browser.close", session=False)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_chrome)
        os.close(self.from_chrome)
        shutil.rmtree(self.profile, ignore_errors=True)


def open_page(b, url, viewport):
    target = b.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
    b.session = b.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
    for domain in ("Runtime", "Log", "Network", "Page"):
        b.send(domain + ".enable")
    w, h = viewport
    b.send("Emulation.setDeviceMetricsOverride", {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": False})
    b.send("Page.navigate", {"url": url})
    if b.wait_event("Page.loadEventFired", b.timeout) is None:
        raise TimeoutError("the page did not finish loading")
    b.wait_event("never.happens", 1.0)  # a second of quiet for late errors and requests


def problems(b, url):
    """Console errors, exceptions, error logs, and requests other than the page."""
    errors, requests = [], []
    for e in b.events:
        p = e.get("params", {})
        if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errors.append("console.%s: %s" % (p["type"], " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))))
        elif e["method"] == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            errors.append("exception: %s %s" % (d.get("text", ""), d.get("exception", {}).get("description", "")))
        elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            errors.append("log: %s" % p["entry"].get("text", ""))
        elif e["method"] == "Network.requestWillBeSent":
            u = p.get("request", {}).get("url", "")
            if u.split("#")[0] != url.split("#")[0]:
                requests.append(u)
    return errors, requests


ROWS_JS = """(() => {
  const rows = [...document.querySelectorAll('#rows-body tr')];
  return {total: rows.length, shown: rows.filter(r => !r.hidden).length,
          count: (document.getElementById('row-count') || {}).textContent || ''};
})()"""

PICK_WORD_JS = """(() => {
  const rows = [...document.querySelectorAll('#rows-body tr')];
  const n = rows.length, counts = new Map();
  for (const r of rows) {
    for (const w of new Set(r.textContent.toLowerCase().match(/[a-z0-9]{4,}/g) || [])) {
      counts.set(w, (counts.get(w) || 0) + 1);
    }
  }
  let best = null;
  for (const [w, c] of counts) {
    if (c < n && (best === null || Math.abs(c - n / 2) < Math.abs(best[1] - n / 2))) best = [w, c];
  }
  return best && best[0];
})()"""


def check_rows(b, report, word):
    """Typing into the search box and picking a status narrow the rows table."""
    before = b.evaluate(ROWS_JS)
    if before["total"] < 2:
        report("rows table has at least 2 rows", False, "%d rows" % before["total"])
        return
    word = word or b.evaluate(PICK_WORD_JS)
    if not word:
        report("a word that only some rows contain", False, "none found")
        return
    b.evaluate("document.getElementById('row-search').focus()")
    b.type_text(word)
    after = b.evaluate(ROWS_JS)
    contain = b.evaluate(
        "[...document.querySelectorAll('#rows-body tr')].filter(r => !r.hidden)"
        ".every(r => r.textContent.toLowerCase().includes(%s))" % json.dumps(word.lower()))
    report("typing %r into the search box narrows the rows" % word,
           0 < after["shown"] < before["shown"] and contain,
           "%d -> %d rows, all containing it: %s; counter: %r" % (before["shown"], after["shown"], contain, after["count"]))
    b.evaluate("(() => { const s = document.getElementById('row-search'); s.value = '';"
               " s.dispatchEvent(new Event('input')); })()")
    status = b.evaluate(
        "(() => { const s = document.getElementById('f-status'); if (!s) return null;"
        " const o = [...s.options].map(o => o.value).filter(v => v);"
        " return o.includes('accepted') ? 'accepted' : (o[0] || null); })()")
    if status is None:
        report("status filter", False, "no #f-status options")
        return
    b.evaluate("(() => { const s = document.getElementById('f-status'); s.value = %s;"
               " s.dispatchEvent(new Event('change')); })()" % json.dumps(status))
    picked = b.evaluate(ROWS_JS)
    same = b.evaluate(
        "[...document.querySelectorAll('#rows-body tr')].filter(r => !r.hidden)"
        ".every(r => r.dataset.status === %s)" % json.dumps(status))
    report("status filter %r keeps only those rows" % status,
           0 < picked["shown"] <= before["shown"] and same,
           "%d -> %d rows" % (before["shown"], picked["shown"]))


HOVER_TARGET_JS = """(() => {
  const c = document.querySelector('#map-all circle[data-i]');
  if (!c) return null;
  c.scrollIntoView({block: 'center'});
  const r = c.getBoundingClientRect();
  return {x: r.left + r.width / 2, y: r.top + r.height / 2};
})()"""

HOVER_TIP_JS = """(() => {
  const t = document.getElementById('tip');
  return t && !t.hidden ? t.querySelector('.tip-head').textContent + ' | ' + t.querySelector('.tip-text').textContent : null;
})()"""


def check_hover(b, report):
    """Moving the mouse onto a map point shows its text in the tooltip."""
    at = b.evaluate(HOVER_TARGET_JS)
    if at is None:
        report("a map point to hover", False, "no circle in #map-all")
        return
    b.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": at["x"], "y": at["y"]})
    tip = b.evaluate(HOVER_TIP_JS)
    report("hovering a map point shows its text", bool(tip), (tip or "no tooltip")[:160])
    b.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": 1, "y": 1})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("page")
    ap.add_argument("--points", type=int, help="expected count of circle[data-kind] (map points)")
    ap.add_argument("--count", nargs=2, action="append", default=[], metavar=("SELECTOR", "N"))
    ap.add_argument("--require-rows", action="store_true", help="fail when the page has no rows table")
    ap.add_argument("--search", help="the word to type (default: one that about half the rows contain)")
    ap.add_argument("--screenshot", help="save a PNG of the viewport here")
    ap.add_argument("--at", help="scroll this element into view before the screenshot")
    ap.add_argument("--viewport", default="1280x1000")
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM", "chromium"))
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args()

    binary = shutil.which(a.chromium)
    if not binary:
        print("browser_check: %s not found (scripts/setup_chromium.sh installs it)" % a.chromium)
        return 2
    path = os.path.abspath(a.page)
    url = "file://" + urllib.parse.quote(path)
    viewport = tuple(int(x) for x in a.viewport.lower().split("x"))
    counts = [(s, int(n)) for s, n in a.count] + ([("circle[data-kind]", a.points)] if a.points is not None else [])
    failed = []

    def report(what, ok, detail=""):
        print("  %s %s%s" % ("ok  " if ok else "FAIL", what, (": " + detail) if detail else ""))
        if not ok:
            failed.append(what)

    print("browser_check: %s (%s)" % (path, subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()))
    b = Browser(binary, a.timeout)
    try:
        open_page(b, url, viewport)
        for sel, want in counts:
            got = b.evaluate("document.querySelectorAll(%s).length" % json.dumps(sel))
            report("%s: %d, expected %d" % (sel, got, want), got == want)
        if b.evaluate("!!document.querySelector('#map-all circle[data-i]')"):
            check_hover(b, report)
        has_rows = b.evaluate("!!document.getElementById('rows-body')")
        if has_rows:
            check_rows(b, report, a.search)
        elif a.require_rows:
            report("the page has a rows table", False)
        if a.screenshot:
            if a.at:
                b.evaluate("(() => { const e = document.querySelector(%s); if (e) e.scrollIntoView(); })()" % json.dumps(a.at))
                b.wait_event("never.happens", 0.3)
            shot = b.send("Page.captureScreenshot", {"format": "png"})
            with open(a.screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            print("  screenshot: %s" % a.screenshot)
        errors, requests = problems(b, url)
        report("no console error", not errors, "; ".join(errors)[:2000])
        report("no network request", not requests, " ".join(requests)[:2000])
    except (RuntimeError, TimeoutError, OSError) as e:
        report("drive Chromium", False, str(e))
    finally:
        b.close()
    print("FAIL" if failed else "PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
