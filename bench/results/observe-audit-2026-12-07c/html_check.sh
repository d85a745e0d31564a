#!/usr/bin/env bash
# The HTML report of costs.db (cwd) in headless Chromium: loads, runs no script, fetches nothing.
set -u
llm-cost report costs.db --by tenant --html report.html --format json > /dev/null
chromium --headless --no-sandbox --disable-gpu --user-data-dir="$PWD/.chrome" --dump-dom "file://$PWD/report.html" > dom.html 2> /dev/null
chromium --headless --no-sandbox --disable-gpu --user-data-dir="$PWD/.chrome" --window-size=1200,2400 --screenshot="$PWD/report.png" "file://$PWD/report.html" 2> /dev/null
echo "script elements in the DOM: $(grep -c '<script' dom.html)"
echo "escaped tenant cells: $(grep -o '<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>' dom.html | wc -l)"
echo "sections: $(grep -o '<h2>' dom.html | wc -l); inline PNG charts: $(grep -o 'src="data:image/png;base64,' dom.html | wc -l)"
echo "URLs other than data: in the page: $(grep -oE '(src|href)="[^d"][^"]*"|url\(|@import|https?://' report.html | wc -l)"
rm -rf .chrome
