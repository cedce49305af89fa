"""Every "DOMAIN.md §n" a test or module cites names a section docs/DOMAIN.md has."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_every_cited_domain_section_exists_in_docs_domain_md():
    sections = set(re.findall(r"^#+\s*(\d+)[.\s]", (ROOT / "docs" / "DOMAIN.md").read_text(), re.M))
    cited: dict[str, set[str]] = {}
    for folder in ("ledger", "workers", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            for number in re.findall(r"DOMAIN\.md\s*§\s*(\d+)", path.read_text()):
                cited.setdefault(number, set()).add(str(path.relative_to(ROOT)))
    assert cited, "nothing cites DOMAIN.md: the pattern is wrong"
    missing = {n: sorted(paths) for n, paths in cited.items() if n not in sections}
    assert not missing, f"cited sections docs/DOMAIN.md lacks: {missing}"
