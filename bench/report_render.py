"""How long an HTML report takes to render: `python bench/report_render.py REPORT.html...`.

Opens each page in headless Chromium (Debian's `chromium`) `--repeat` times and
prints, from the page's own Navigation Timing, the median time to
DOMContentLoaded (the page parsed and its script run), to the load event and to
the whole page laid out (style and layout forced once loaded), with the page's
size and how many diagram arrows it holds. Each page is read from disk, so the
numbers are the browser's work alone.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# Appended to a copy of the page: once loaded, write the timings into the DOM.
_PROBE = """<script>
window.addEventListener('load', function(){
  var nav = performance.getEntriesByType('navigation')[0];
  var height = document.documentElement.offsetHeight;  // forces style and layout
  var laidOut = performance.now();
  var out = document.createElement('pre');
  out.id = 'render-timings';
  out.textContent = JSON.stringify({
    layout: laidOut,
    height: height,
    dcl: nav.domContentLoadedEventEnd,
    load: nav.loadEventStart,
    arrows: document.querySelectorAll('svg.sequence .msg').length
  });
  document.body.appendChild(out);
});
</script>"""
_TIMINGS = re.compile(r'<pre id="render-timings">(.*?)</pre>')


def measure(chromium: str, page: Path, profile: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        probe = Path(scratch) / page.name
        probe.write_text(page.read_text(encoding="utf-8") + _PROBE, encoding="utf-8")
        done = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--window-size=1440,1000",
                f"--user-data-dir={profile}",
                "--dump-dom",
                probe.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
    found = _TIMINGS.search(done.stdout)
    if found is None:
        raise SystemExit(f"{page}: the page did not report its timings")
    return json.loads(found.group(1).replace("&quot;", '"'))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="+", type=Path, metavar="REPORT.html")
    parser.add_argument("--repeat", type=int, default=5, help="loads per page (default: 5)")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium is not installed (Debian package 'chromium')", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as profile:
        for page in args.pages:
            runs = [measure(chromium, page, Path(profile)) for _ in range(args.repeat)]
            median = {
                key: statistics.median(run[key] for run in runs)
                for key in ("dcl", "load", "layout")
            }
            print(
                f"{page}: {page.stat().st_size / 1e6:.2f} MB, {runs[0]['arrows']:.0f} arrows; "
                f"{runs[0]['height']:.0f} px tall; median of {args.repeat}: DOMContentLoaded "
                f"{median['dcl']:.0f} ms, load {median['load']:.0f} ms, laid out "
                f"{median['layout']:.0f} ms after navigation start"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
