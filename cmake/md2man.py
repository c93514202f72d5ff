#!/usr/bin/env python3
"""md2man.py - render a man page written in Markdown (docs/<tool>.1.md) to roff.

Why our own: pandoc/ronn would add a large toolchain to the build for a handful of pages.
This handles the subset that man pages use:

  # fcs-info(1) -- print what an FCS file holds     title line (ronn style; "% FCS-INFO(1)"
                                                     pandoc title blocks work too)
  ## SYNOPSIS / ## OPTIONS ...                       .SH sections (### -> .SS)
  paragraphs, `code`, **bold**, *italic*, _italic_, [text](url), <url>
  * item / - item / 1. item                          bulleted and numbered lists
  * `--json`:                                        a definition (ronn style): the term,
    Print JSON Lines.                                then its indented description
  `--json`                                           a definition (pandoc style): the term,
  :   Print JSON Lines.                              then ":" and the description
  ```fenced``` and 4-space indented code blocks      .nf/.fi
  | tables |                                         preformatted, columns aligned

Usage: md2man.py [--version V] INPUT.md OUTPUT.1
"""
import os
import re
import sys

INLINE_CODE = re.compile(r"`([^`]+)`")
BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
ITALIC = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])|(?<![\w])_(?!\s)(.+?)(?<!\s)_(?![\w])")
LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")


def escape(text):
    """Escape roff specials in plain text: backslash, and '-' as a real minus sign so that
    options copied from the page work."""
    return text.replace("\\", "\\e").replace("-", "\\-")


def inline(text):
    """Markdown inline markup -> roff font changes. Code spans are protected first."""
    spans = []

    def keep(s):
        spans.append(s)
        return "\x00%d\x00" % (len(spans) - 1)

    text = INLINE_CODE.sub(lambda m: keep("\\fB" + escape(m.group(1)) + "\\fR"), text)
    text = LINK.sub(lambda m: m.group(1) + keep(" (" + escape(m.group(2)) + ")"), text)
    text = AUTOLINK.sub(lambda m: keep(escape(m.group(1))), text)
    text = escape(text)
    text = BOLD.sub(lambda m: "\\fB" + (m.group(1) or m.group(2)) + "\\fR", text)
    text = ITALIC.sub(lambda m: "\\fI" + (m.group(1) or m.group(2)) + "\\fR", text)
    text = re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], text)
    return text


def line_out(text):
    """A text line that roff must not take for a request."""
    text = text.strip()
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def parse_title(line):
    """'# name(1) -- summary' or '% NAME(1) ...' -> (name, section, summary)."""
    m = re.match(r"^(?:#|%)\s*([\w.+-]+)\s*\((\w+)\)\s*(?:--?|\u2014|\u2013)?\s*(.*)$", line)
    if m:
        return m.group(1), m.group(2), m.group(3).strip()
    return None


class Renderer:
    def __init__(self, name, section, version):
        self.out = []
        self.name = name
        self.section = section
        self.version = version

    def emit(self, s):
        self.out.append(s)

    def heading(self, level, text):
        text = text.strip().rstrip("#").strip()
        if level <= 2:
            self.emit('.SH "%s"' % inline(text.upper()).replace('"', '\\(dq'))
        else:
            self.emit('.SS "%s"' % inline(text).replace('"', '\\(dq'))

    def paragraph(self, lines):
        self.emit(".PP")
        for ln in lines:
            self.emit(line_out(inline(ln)))

    def code(self, lines):
        self.emit(".PP")
        self.emit(".RS 4")
        self.emit(".nf")
        for ln in lines:
            self.emit(line_out(escape(ln)) if ln.strip() else "")
        self.emit(".fi")
        self.emit(".RE")

    def table(self, rows):
        cells = []
        for r in rows:
            r = r.strip().strip("|")
            parts = [c.strip() for c in r.split("|")]
            if all(re.fullmatch(r":?-{2,}:?", c) for c in parts if c):
                continue  # the |---|---| separator row
            cells.append([INLINE_CODE.sub(r"\1", c) for c in parts])
        width = [0] * max(len(r) for r in cells)
        for r in cells:
            for i, c in enumerate(r):
                width[i] = max(width[i], len(c))
        lines = ["  ".join(c.ljust(width[i]) for i, c in enumerate(r)).rstrip() for r in cells]
        self.code(lines)

    def list_item(self, marker, term, body):
        """term: a definition term (shown bold on its own line) or None for a bullet."""
        if term is not None:
            self.emit(".TP 7")  # explicit: a preceding .IP list changed the indent
            self.emit(line_out(inline(term)))
        elif marker in ("*", "-", "+"):
            self.emit(".IP \\(bu 2")
        else:
            self.emit('.IP "%s" 4' % marker)
        blocks = split_blocks(body)
        for i, (kind, lines) in enumerate(blocks):
            if kind == "code":
                self.emit(".RS")
                self.code(lines)
                self.emit(".RE")
            else:
                if i > 0:
                    self.emit(".IP")
                for ln in lines:
                    self.emit(line_out(inline(ln)))


def split_blocks(lines):
    """Split a list item's body into text and code blocks (blank-line separated)."""
    blocks, cur, kind, in_fence = [], [], "text", False
    for ln in lines:
        if ln.strip().startswith("```"):
            if in_fence:
                blocks.append(("code", cur))
                cur, in_fence = [], False
            else:
                if cur:
                    blocks.append((kind, cur))
                cur, in_fence, kind = [], True, "text"
            continue
        if in_fence:
            cur.append(ln)
        elif not ln.strip():
            if cur:
                blocks.append((kind, cur))
            cur, kind = [], "text"
        elif ln.startswith("    ") and not cur:
            kind = "code"
            cur.append(ln[4:])
        else:
            cur.append(ln[4:] if kind == "code" and ln.startswith("    ") else ln.strip())
    if cur:
        blocks.append(("code" if in_fence else kind, cur))
    return blocks


def dedent_item(line):
    """Remove a list item's indentation (a tab, or up to 4 spaces); deeper indentation stays."""
    if line.startswith("\t"):
        return line[1:]
    k = len(line) - len(line.lstrip(" "))
    return line[min(k, 4):]


LIST_RE = re.compile(r"^(\s{0,3})([*+-]|\d+[.)])\s+(.*)$")


def render(src, version, fallback_name):
    lines = src.splitlines()
    name, section, summary = fallback_name, "1", ""
    # Title: the first non-blank line when it is a "# name(1) -- summary" line.
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i < len(lines):
        t = parse_title(lines[i])
        if t:
            name, section, summary = t
            i += 1
            # pandoc title block: further % lines (authors, date) are dropped
            while i < len(lines) and lines[i].startswith("%"):
                i += 1
    r = Renderer(name, section, version)
    r.emit('.\\" Generated by cmake/md2man.py from Markdown: edit the .md file, not this one.')
    r.emit('.TH "%s" "%s" "" "libfcs %s" "libfcs manual"' % (name.upper(), section, version))
    body = lines[i:]
    has_name = any(re.match(r"^#{1,2}\s*NAME\s*$", ln, re.I) for ln in body)
    if not has_name:
        r.emit(".SH NAME")
        r.emit(escape(name) + (" \\- " + inline(summary) if summary else ""))

    para = []

    def flush():
        if para:
            r.paragraph(para)
            para.clear()

    n = len(body)
    j = 0
    while j < n:
        ln = body[j]
        s = ln.strip()
        if not s:
            flush()
            j += 1
            continue
        if s.startswith("```"):
            flush()
            code = []
            j += 1
            while j < n and not body[j].strip().startswith("```"):
                code.append(body[j])
                j += 1
            r.code(code)
            j += 1
            continue
        m = re.match(r"^(#{1,6})\s+(.*)$", ln)
        if m:
            flush()
            r.heading(len(m.group(1)), m.group(2))
            j += 1
            continue
        if s.startswith("|") and not para:
            rows = []
            while j < n and body[j].strip().startswith("|"):
                rows.append(body[j])
                j += 1
            r.table(rows)
            continue
        if ln.startswith("    ") and not para:
            code = []
            while j < n and (body[j].startswith("    ") or not body[j].strip()):
                code.append(body[j][4:])
                j += 1
            while code and not code[-1].strip():
                code.pop()
            r.code(code)
            continue
        m = LIST_RE.match(ln)
        if m and not para:
            marker, first = m.group(2), m.group(3)
            item_body = []
            j += 1
            # the item goes on while lines are indented, or blank and followed by indented
            while j < n:
                nxt = body[j]
                if nxt.strip() and (nxt.startswith("  ") or nxt.startswith("\t")):
                    item_body.append(dedent_item(nxt))
                    j += 1
                elif not nxt.strip() and j + 1 < n and body[j + 1].startswith("  ") \
                        and not LIST_RE.match(body[j + 1]):
                    item_body.append("")
                    j += 1
                else:
                    break
            term = None
            if first.endswith(":") and item_body:
                term, first = first[:-1], None
            r.list_item(marker, term, ([first] if first else []) + item_body)
            continue
        # pandoc definition list: a term line followed by ":   definition"
        if not para and j + 1 < n and re.match(r"^:\s{1,4}\S", body[j + 1]):
            flush()
            term = s
            item_body = [re.sub(r"^:\s+", "", body[j + 1])]
            j += 2
            while j < n and (body[j].startswith("    ") or
                             (not body[j].strip() and j + 1 < n and body[j + 1].startswith("    "))):
                item_body.append(body[j][4:] if body[j].strip() else "")
                j += 1
            r.list_item(None, term, item_body)
            continue
        para.append(s)
        j += 1
    flush()
    return "\n".join(r.out) + "\n"


def main(argv):
    version = "0"
    args = argv[1:]
    if len(args) >= 2 and args[0] == "--version":
        version, args = args[1], args[2:]
    if len(args) != 2:
        sys.stderr.write("usage: md2man.py [--version V] INPUT.md OUTPUT.1\n")
        return 2
    src_path, out_path = args
    fallback = re.sub(r"\.\d\.md$|\.md$", "", src_path.rsplit("/", 1)[-1])
    try:
        with open(src_path, encoding="utf-8") as f:
            src = f.read()
    except OSError as e:
        sys.stderr.write("md2man.py: %s: %s\n" % (src_path, e.strerror))
        return 1
    text = render(src, version, fallback)
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
