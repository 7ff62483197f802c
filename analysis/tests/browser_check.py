#!/usr/bin/python3
"""Opens an HTML report in headless Chromium (Debian's `chromium`) and checks what a reader sees:
no console error or failed resource, and every figure decoded and laid out at non-zero size. Keeps a
full-page screenshot. A probe script is put at the top of a copy of the page (the page itself has no
scripts): it records console.error calls and error events, and after `load` writes each image's
decoded and rendered size into the DOM that `chromium --dump-dom` prints.

  browser_check.py report.html --screenshot report.png [--expect-figures N]

Exit 0 ok, 1 a check failed (each failure one line), 2 bad input (no such page, no chromium)."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

PROBE = """<script>
window.__moesim_errors = [];
window.addEventListener('error', e => window.__moesim_errors.push(String(e.message || (e.target && e.target.src) || e)), true);
window.addEventListener('unhandledrejection', e => window.__moesim_errors.push('unhandled rejection: ' + e.reason));
(function () { const error = console.error; console.error = (...a) => { window.__moesim_errors.push(a.join(' ')); error(...a); }; })();
window.addEventListener('load', () => {
  const images = [...document.images].map(i => { const r = i.getBoundingClientRect();
    return {alt: i.alt, natural_w: i.naturalWidth, natural_h: i.naturalHeight, shown_w: r.width, shown_h: r.height}; });
  const p = document.createElement('pre'); p.id = 'moesim-probe';
  p.textContent = JSON.stringify({errors: window.__moesim_errors, images: images});
  document.body.appendChild(p);
});
</script>"""
# Time the page may take to load and lay out, in Chromium's virtual time (not a wall-clock wait).
VIRTUAL_TIME_BUDGET_MS = 10000
WINDOW = "1280,3000"
CHROMIUM_TIMEOUT_S = 180  # a hung browser is a failure, not a stuck ctest


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    print("browser_check: error: no chromium (Debian: apt-get install chromium; scripts/setup.sh installs it)",
          file=sys.stderr)
    sys.exit(2)


def run_browser(args):
    base = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}", f"--window-size={WINDOW}"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S)


def probe(page):
    """{"errors": [...], "images": [...]} as the browser saw the page."""
    with open(page, encoding="utf-8") as f:
        text = f.read()
    with tempfile.TemporaryDirectory() as tmp:
        probed = os.path.join(tmp, "probed.html")
        with open(probed, "w", encoding="utf-8") as f:
            f.write(re.sub(r"<head>", "<head>" + PROBE, text, count=1) if "<head>" in text else PROBE + text)
        r = run_browser(["--dump-dom", "file://" + probed])
    m = re.search(r'<pre id="moesim-probe">(.*?)</pre>', r.stdout, re.S)
    if not m:
        return {"errors": [f"the page never finished loading (chromium exit {r.returncode})"], "images": []}
    import html
    return json.loads(html.unescape(m.group(1)))


def failures(result, expect_figures=None):
    out = [f"console or resource error: {e}" for e in result["errors"]]
    for i in result["images"]:
        if i["natural_w"] <= 0 or i["natural_h"] <= 0:
            out.append(f"figure not decoded: {i['alt']}")
        elif i["shown_w"] <= 0 or i["shown_h"] <= 0:
            out.append(f"figure laid out at zero size: {i['alt']}")
    if expect_figures is not None and len(result["images"]) != expect_figures:
        out.append(f"{len(result['images'])} figures in the page, expected {expect_figures}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("page")
    ap.add_argument("--screenshot", required=True)
    ap.add_argument("--expect-figures", type=int)
    a = ap.parse_args()
    if not os.path.isfile(a.page):
        print(f"browser_check: error: {a.page}: no such file", file=sys.stderr)
        return 2
    result = probe(a.page)
    run_browser([f"--screenshot={os.path.abspath(a.screenshot)}", "file://" + os.path.abspath(a.page)])
    bad = failures(result, a.expect_figures)
    if not os.path.isfile(a.screenshot) or os.path.getsize(a.screenshot) == 0:
        bad.append(f"{a.screenshot}: no screenshot written")
    for line in bad:
        print(f"FAIL: {line}")
    if not bad:
        sizes = ", ".join(f"{i['natural_w']}x{i['natural_h']}" for i in result["images"])
        print(f"ok: {len(result['images'])} figures drawn ({sizes}), no console errors; screenshot {a.screenshot}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
