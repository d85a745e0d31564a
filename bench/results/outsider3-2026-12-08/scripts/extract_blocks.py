"""Write every ```python block of a docs page to <outdir>/<page>_<n>.py, in page order."""

import re
import sys
from pathlib import Path

page, outdir = Path(sys.argv[1]), Path(sys.argv[2])
outdir.mkdir(parents=True, exist_ok=True)
blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
for n, block in enumerate(blocks, 1):
    target = outdir / f"{page.stem}_{n}.py"
    target.write_text(block)
    print(target, len(block.splitlines()), "lines")
