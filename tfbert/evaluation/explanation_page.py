"""Explanations as one HTML page: each text with its words shaded by attribution.

Self-contained (inline CSS, no script, no font or image to fetch): it opens from disk
in any browser, with no server and no network. Green: the word pushed the answer up;
red: it pulled it down; the stronger the colour, the larger the share of the text's
largest attribution. Hovering a word shows its attribution. Pure Python.
"""

import html
import pathlib

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 60em; padding: 0 1em; color: #1b1b1b; line-height: 1.5; }
h1 { font-size: 1.4em; }
.legend span { padding: 0.1em 0.4em; border-radius: 0.2em; }
.text { border-top: 1px solid #ddd; padding: 0.8em 0; }
.answer { font-weight: 600; }
.meta { color: #666; font-size: 0.85em; }
.words { font-size: 1.1em; margin: 0.3em 0; white-space: pre-wrap; }
.words span { border-radius: 0.2em; padding: 0 0.05em; }
.unseen { color: #999; text-decoration: line-through; }
"""


def shade(attribution, largest):
    """The background of a word: green for positive, red for negative, alpha by size."""
    if attribution is None or largest <= 0:
        return "transparent"
    strength = min(abs(attribution) / largest, 1.0)
    red, green, blue = (22, 163, 74) if attribution > 0 else (220, 38, 38)
    return f"rgba({red}, {green}, {blue}, {0.08 + 0.72 * strength:.3f})"


def text_html(text, words):
    """The text as written, each word in a shaded span (spaces and anything between
    words kept as they are)."""
    largest = max((abs(w["attribution"]) for w in words if w["attribution"] is not None),
                  default=0.0)
    parts, position = [], 0
    for word in words:
        parts.append(html.escape(text[position:word["start"]]))
        shown = html.escape(text[word["start"]:word["end"]])
        if word["attribution"] is None:
            parts.append(f'<span class="unseen" title="past max_length: not seen">{shown}</span>')
        else:
            parts.append(f'<span style="background: {shade(word["attribution"], largest)}" '
                         f'title="{word["attribution"]:+.4f}">{shown}</span>')
        position = word["end"]
    parts.append(html.escape(text[position:]))
    return "".join(parts)


def answer_html(row):
    if "score" in row:
        return f"score {row['score']:.4f}"
    probabilities = row.get("probabilities", {})
    names = row["label"] if isinstance(row["label"], list) else [row["label"]]
    return ", ".join(html.escape(str(name)) + (f" (probability {probabilities[name]:.3f})"
                                               if name in probabilities else "")
                     for name in names) or "(no label)"


def page(rows, title):
    """The page's HTML for explanation rows (as tfbert.explain writes them)."""
    body = [f"<h1>{html.escape(title)}</h1>",
            '<p class="legend"><span style="background: rgba(22, 163, 74, 0.6)">pushed the '
            'answer up</span> <span style="background: rgba(220, 38, 38, 0.6)">pulled it '
            'down</span> — integrated gradients on the word-piece embeddings, summed per '
            "word; hover a word for its attribution.</p>"]
    for row in rows:
        texts = [("text", row["text"], 0)]
        if "text_pair" in row:
            texts.append(("text_pair", row["text_pair"], 1))
        body.append('<div class="text">')
        where = f"{html.escape(str(row['source']))}, line {row['line']}: " if "source" in row else ""
        body.append(f'<div class="meta">{where}attributions sum to {row["output"] - row["baseline_output"]:+.4f} '
                    f"(output {row['output']:.4f} − baseline {row['baseline_output']:.4f}; "
                    f"gap {row['completeness_error']:.4f}, {row['completeness_gap']:.2%} of the "
                    f"change; {row['steps']} steps, "
                    f"baseline {html.escape(row['baseline'])})</div>")
        body.append(f'<div class="answer">{answer_html(row)}</div>')
        for _, text, index in texts:
            words = [w for w in row["words"] if w.get("text", 0) == index]
            body.append(f'<div class="words">{text_html(text, words) or "<i>(empty text)</i>"}</div>')
        body.append("</div>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_page(rows, path, title="Explanations"):
    path = pathlib.Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(page(rows, title), encoding="utf-8")
    temporary.replace(path)
