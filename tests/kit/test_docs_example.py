"""docs/testing.md shows the example test that the suite runs: its code block is
tests/kit/test_example.py, line for line, and the example stays within the 20 lines promised."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def python_blocks(markdown: str) -> list[str]:
    blocks: list[str] = []
    lines: list[str] = []
    inside = False
    for line in markdown.splitlines():
        if line.strip() == "```python":
            inside, lines = True, []
        elif inside and line.strip() == "```":
            inside = False
            blocks.append("\n".join(lines) + "\n")
        elif inside:
            lines.append(line)
    return blocks


def test_the_docs_example_is_the_test_file_the_suite_runs():
    example = (ROOT / "tests" / "kit" / "test_example.py").read_text()
    assert python_blocks((ROOT / "docs" / "testing.md").read_text())[0] == example


def test_the_example_is_at_most_twenty_lines():
    assert len((ROOT / "tests" / "kit" / "test_example.py").read_text().splitlines()) <= 20
