import pathlib
import re
import sys

for page in sys.argv[1:]:
    text = pathlib.Path(page).read_text()
    stem = pathlib.Path(page).stem
    for i, m in enumerate(re.finditer(r"```(\w*)\n(.*?)```", text, re.S)):
        lang = m.group(1) or "txt"
        ext = {"python": "py", "bash": "sh", "console": "sh", "shell": "sh"}.get(lang, lang)
        line = text[: m.start()].count("\n") + 1
        p = pathlib.Path(f"/tmp/o4run/{stem}_{i:02d}_L{line}.{ext}")
        p.write_text(m.group(2))
        print(p.name, len(m.group(2).splitlines()))
