#!/usr/bin/env python3
"""Local feed server for the peers benchmark (Python 3 standard library only).

Serves N news feeds from 127.0.0.1, every body pre-rendered in memory, with
ETag / Last-Modified and 304 answers, so that the tools being measured pay for
fetching, parsing and storing, never for waiting on the server. It runs in its
own process (the driver starts it) so its CPU is never charged to a tool.

Two sources of feeds:
  * synthetic (default): RSS 2.0 and Atom feeds of --items items each, with
    realistic sizes (titles 60-90 chars, descriptions 200-600 chars, about a
    third of them HTML). Deterministic for a given --seed.
  * --real DIR: the captured series under DIR (e.g. $STORYWATCH_CORPUS/
    timeseries); feed i replays series i mod S from its own starting capture.

Between cycles the driver calls /_ctl/advance, which changes about --change
percent of the feeds the way news feeds change: a few new items at the top
(the oldest fall off the bottom) and one or two edited items (headline
rewritten and a sentence added). In --real mode a changed feed moves on to
its next distinct capture, i.e. real new items and real edits.

Control endpoints (JSON):
  /_ctl/feeds            one feed path per line (text/plain)
  /_ctl/advance          change feeds; returns the ground truth of the change
  /_ctl/stats?reset=1    requests served since the last reset, by status
"""

import argparse
import asyncio
import gzip
import hashlib
import json
import os
import random
import sys
import time
from email.utils import format_datetime
from datetime import datetime, timezone
from xml.sax.saxutils import escape

# ---------------------------------------------------------------------------
# Synthetic news text. A vocabulary of news words with a Zipf-like weighting
# gives text whose word frequencies look like prose (many "the", few
# "semiconductor"), which matters for the matchers and diff engines measured.
# ---------------------------------------------------------------------------

FUNCTION_WORDS = (
    "the the the the a a a of of to to in in and and on for with at by from as "
    "after over is are was were has have will says said amid into about against"
).split()
NEWS_WORDS = (
    "government minister police court election vote president prime council city "
    "storm flood fire hospital health vaccine virus school students teachers union "
    "strike workers wages prices inflation bank rates market shares economy budget "
    "tax housing rent energy gas oil power climate emissions drought heat winter "
    "summer farmers crops water river coast port ship airline flights airport "
    "railway train road crash driver car bus family children mother father woman "
    "man teenager victim suspect officers investigation inquiry report review "
    "figures data survey study scientists researchers university museum artist "
    "film music festival team match league cup final coach player injury season "
    "record win loss draw fans stadium club transfer contract deal talks summit "
    "leaders treaty border troops soldiers army navy war ceasefire peace aid "
    "refugees migrants protest protesters rally march ban law bill parliament "
    "senate congress opposition party leader campaign poll candidate mayor judge "
    "trial verdict sentence prison jail fraud charges arrest warrant release "
    "company chief executive profit jobs factory plant technology software phone "
    "app data privacy hackers attack outage network satellite rocket launch space "
    "mission moon planet discovery species forest wildlife animals zoo park beach "
    "earthquake tsunami volcano evacuation warning alert emergency rescue crews "
    "residents neighbours community village town region state nation country "
    "north south east west central new old first last major minor record"
).split()
CAPITALISED = (
    "Wellington Auckland London Paris Berlin Tokyo Sydney Toronto Chicago Texas "
    "California Europe Asia Africa Pacific Atlantic Smith Jones Garcia Nguyen "
    "Patel Kim Müller Rossi Dubois Tanaka Reuters NASA UN EU NATO WHO"
).split()

WORDS = FUNCTION_WORDS * 3 + NEWS_WORDS + CAPITALISED


class Words:
    """Draws words in bulk (one choices() call per 4,096 words), so rendering
    100,000 feeds takes seconds per 10,000, not minutes."""

    def __init__(self, rng):
        self.rng = rng
        self.buf = []

    def take(self, k):
        if len(self.buf) < k:
            self.buf.extend(self.rng.choices(WORDS, k=4096))
        out = self.buf[-k:]
        del self.buf[-k:]
        return out


def sentence(rng, lo, hi):
    """A sentence of about lo..hi characters that always contains "the"."""
    target = lo + int(rng.random() * (hi - lo + 1))
    words = rng.words.take(max(3, target // 7 + 1))
    words[0] = "The" if words[0] in FUNCTION_WORDS else words[0].capitalize()
    if "the" not in words:
        words.insert(len(words) // 2, "the")
    if rng.random() < 0.3:
        words.insert(1 + int(rng.random() * len(words)), str(2 + int(rng.random() * 2000)))
    return " ".join(words)


def title_text(rng):
    """A headline of 60-90 characters."""
    t = sentence(rng, 55, 80)
    while len(t) > 90:
        t = t.rsplit(" ", 1)[0]
    while len(t) < 60:
        t += " " + rng.choice(NEWS_WORDS)
    return t


def description_text(rng, total):
    """(text, is_html): a description of about `total` characters; a third of
    them are HTML with paragraphs, a link and emphasis, like real feeds."""
    parts = []
    n = 0
    while n < total - 30:
        s = sentence(rng, 60, min(140, max(60, total - n))) + "."
        parts.append(s)
        n += len(s) + 1
    if rng.random() < 0.33:
        mid = len(parts) // 2 or 1
        first = " ".join(parts[:mid])
        rest = " ".join(parts[mid:])
        words = rest.split(" ")
        if len(words) > 4:
            words[2] = '<a href="https://www.example.org/topic/%s">%s</a>' % (words[2].lower(), words[2])
            words[-3] = "<b>%s</b>" % words[-3]
        return "<p>%s</p><p>%s</p>" % (first, " ".join(words)), True
    return " ".join(parts), False


class Item:
    __slots__ = ("uid", "title", "desc", "html", "published", "updated", "cats", "author")

    def __init__(self, rng, feed_no, uid, when):
        self.uid = uid
        self.title = title_text(rng)
        self.desc, self.html = description_text(rng, rng.randint(200, 600))
        self.published = when
        self.updated = when
        self.cats = rng.sample(NEWS_WORDS[:60], rng.randint(1, 3))
        self.author = rng.choice(CAPITALISED[20:30]) + " " + rng.choice(CAPITALISED[20:30])

    def edit(self, rng, when):
        """A real edit: the headline is rewritten (a few words change, often a
        number) and a sentence is added to the description."""
        words = self.title.split(" ")
        for _ in range(rng.randint(2, 4)):
            words[rng.randrange(1, len(words))] = rng.choice(NEWS_WORDS)
        words.insert(rng.randint(1, len(words)), str(rng.randint(2, 900)))
        t = " ".join(words)
        while len(t) > 90:
            t = t.rsplit(" ", 1)[0]
        self.title = t
        added = " " + sentence(rng, 60, 120) + "."
        if self.desc.endswith("</p>"):
            self.desc = self.desc[:-4] + added + "</p>"
        else:
            self.desc += added
        self.updated = when


DEBUG = bool(os.environ.get("FEEDSERVER_DEBUG"))
BASE_TIME = 1_750_000_000  # a fixed epoch second, so runs are reproducible


class SyntheticFeed:
    def __init__(self, no, items, seed):
        self.no = no
        self.rng = random.Random(seed * 1_000_003 + no)
        self.rng.words = Words(self.rng)
        self.atom = no % 3 == 2  # a third of the feeds are Atom
        self.guid_is_link = no % 2 == 0  # half use permalink guids, half opaque ids
        self.host = "www.news%d.example.com" % (no % 97)
        self.next_uid = 0
        self.version = 0
        self.nitems = items
        now = BASE_TIME
        self.items = []
        for k in range(items):
            self.items.append(self._new_item(now - 600 * (k + 1)))
        self.items.reverse()  # newest first
        self.items.sort(key=lambda i: -i.published)

    def _new_item(self, when):
        uid = self.next_uid
        self.next_uid += 1
        return Item(self.rng, self.no, uid, when)

    def link(self, it):
        return "https://%s/news/%d/story-%d-%d" % (self.host, it.published // 86400, self.no, it.uid)

    def change(self, cycle):
        """A few new items on top, one or two edits; returns (new, edited)."""
        now = BASE_TIME + cycle * 3600
        rng = self.rng
        new = rng.randint(2, 4)
        edited = rng.randint(1, 2)
        # edit items that are still in the feed after the new ones push the
        # oldest out: pick among the newer half of the current items
        for it in rng.sample(self.items[: self.nitems // 2], edited):
            it.edit(rng, now)
        fresh = [self._new_item(now - 60 * k) for k in range(new)]
        self.items = fresh + self.items[: self.nitems - new]
        self.version = cycle
        return new, edited

    def render(self):
        if self.atom:
            return self._atom()
        return self._rss()

    def _rss(self):
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:atom="http://www.w3.org/2005/Atom">\n<channel>\n'
            "<title>News %d: Top stories</title>\n<link>https://%s/</link>\n"
            "<description>The latest stories from News %d</description>\n"
            "<language>en</language>\n<lastBuildDate>%s</lastBuildDate>\n"
            % (self.no, self.host, self.no, rfc822(BASE_TIME + self.version * 3600))
        ]
        for it in self.items:
            link = self.link(it)
            guid = (
                '<guid isPermaLink="true">%s</guid>' % link
                if self.guid_is_link
                else '<guid isPermaLink="false">news%d-%08d</guid>' % (self.no, it.uid)
            )
            if it.html and it.uid % 2:
                desc = "<![CDATA[%s]]>" % it.desc
            else:
                desc = escape(it.desc)
            cats = "".join("<category>%s</category>" % c for c in it.cats)
            out.append(
                "<item>\n<title>%s</title>\n<link>%s</link>\n%s\n"
                "<description>%s</description>\n<pubDate>%s</pubDate>\n"
                "<dc:creator>%s</dc:creator>%s\n</item>\n"
                % (escape(it.title), link, guid, desc, rfc822(it.published), it.author, cats)
            )
        out.append("</channel>\n</rss>\n")
        return "".join(out).encode("utf-8")

    def _atom(self):
        out = [
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom">\n'
            "<title>News %d: Top stories</title>\n"
            '<link rel="alternate" href="https://%s/"/>\n'
            "<id>tag:%s,2024:feed-%d</id>\n<updated>%s</updated>\n"
            % (self.no, self.host, self.host, self.no, rfc3339(BASE_TIME + self.version * 3600))
        ]
        for it in self.items:
            cats = "".join('<category term="%s"/>' % c for c in it.cats)
            out.append(
                "<entry>\n<title>%s</title>\n"
                '<link rel="alternate" href="%s"/>\n'
                "<id>tag:%s,2024:feed-%d:story-%d</id>\n<published>%s</published>\n"
                "<updated>%s</updated>\n<author><name>%s</name></author>%s\n"
                '<summary type="%s">%s</summary>\n</entry>\n'
                % (
                    escape(it.title),
                    self.link(it),
                    self.host,
                    self.no,
                    it.uid,
                    rfc3339(it.published),
                    rfc3339(it.updated),
                    it.author,
                    cats,
                    "html" if it.html else "text",
                    escape(it.desc),
                )
            )
        out.append("</feed>\n")
        return "".join(out).encode("utf-8")


def rfc822(ts):
    return format_datetime(datetime.fromtimestamp(ts, timezone.utc), usegmt=True)


def rfc3339(ts):
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------
# Real captures (--real)
# ---------------------------------------------------------------------------


class Series:
    """One captured feed history: distinct captures in order, with the
    manifest's rough counts of new and edited items per capture."""

    def __init__(self, path):
        self.name = os.path.relpath(path, os.path.dirname(os.path.dirname(path)))
        rows = {}
        manifest = os.path.join(path, "MANIFEST.tsv")
        if os.path.exists(manifest):
            with open(manifest, encoding="utf-8") as f:
                header = f.readline().rstrip("\n").split("\t")
                for line in f:
                    cells = dict(zip(header, line.rstrip("\n").split("\t")))
                    rows[cells.get("file")] = cells
        self.bodies = []  # distinct consecutive captures only
        self.counts = []  # (new, edited) relative to the previous distinct capture
        last = None
        acc_new = acc_edit = 0
        for name in sorted(os.listdir(path)):
            if not name.endswith(".xml") and not name.endswith(".json"):
                continue
            row = rows.get(name, {})
            acc_new += int(row.get("new_items") or 0)
            acc_edit += int(row.get("title_changed") or 0) + int(row.get("desc_changed") or 0)
            with open(os.path.join(path, name), "rb") as f:
                body = f.read()
            if body == last:
                continue
            self.bodies.append(body)
            self.counts.append((acc_new, acc_edit))
            acc_new = acc_edit = 0
            last = body


class RealFeed:
    def __init__(self, no, series, start):
        self.no = no
        self.series = series
        self.pos = start
        self.version = 0
        self.atom = False

    def change(self, cycle):
        if self.pos + 1 >= len(self.series.bodies):
            return 0, 0  # the series ran out: stays as it is
        self.pos += 1
        self.version = cycle
        return self.series.counts[self.pos]

    def render(self):
        return self.series.bodies[self.pos]


def load_real(root, n, cycles):
    dirs = []
    for dirpath, _dirnames, filenames in os.walk(root):
        if any(f.endswith(".xml") for f in filenames):
            dirs.append(dirpath)
    dirs.sort()
    series = [Series(d) for d in dirs]
    series = [s for s in series if len(s.bodies) > 2]
    if not series:
        sys.exit("feedserver: no captured series under %s" % root)
    feeds = []
    for i in range(n):
        s = series[i % len(series)]
        # spread the starting captures so feeds of one series differ, leaving
        # room for one step per cycle
        room = max(1, len(s.bodies) - cycles)
        feeds.append(RealFeed(i, s, (i // len(series) * 7) % room))
    return feeds


# ---------------------------------------------------------------------------
# The HTTP server: asyncio streams, keep-alive, pre-rendered responses.
# ---------------------------------------------------------------------------


class Served:
    """A feed's current response: body, validators and the header block."""

    __slots__ = ("body", "gz", "etag", "last_modified", "ctype")

    def __init__(self, body, version, no, ctype, gzip_too):
        self.body = body
        self.gz = gzip.compress(body, 6) if gzip_too else None
        self.etag = '"%d-%d-%s"' % (no, version, hashlib.sha1(body).hexdigest()[:12])
        self.last_modified = rfc822(BASE_TIME + version * 3600)
        self.ctype = ctype


class State:
    def __init__(self, args):
        self.args = args
        self.cycle = 0
        started = time.monotonic()
        if args.real:
            self.feeds = load_real(args.real, args.n, args.cycles_hint)
        else:
            self.feeds = [SyntheticFeed(i, args.items, args.seed) for i in range(args.n)]
        self.paths = []
        self.served = {}
        for f in self.feeds:
            ext = "atom" if f.atom else "xml"
            path = "/feeds/%05d.%s" % (f.no, ext)
            self.paths.append(path)
            self.served[path] = self._serve(f)
        self.rng = random.Random(args.seed)
        self.stats = {}
        self.bytes = 0
        self.render_secs = time.monotonic() - started

    def _serve(self, f):
        ctype = "application/atom+xml" if f.atom else "application/rss+xml"
        return Served(f.render(), f.version, f.no, ctype, self.args.gzip)

    def advance(self):
        """Changes ~change% of the feeds; returns the ground truth."""
        self.cycle += 1
        k = max(1, round(len(self.feeds) * self.args.change / 100.0))
        chosen = self.rng.sample(range(len(self.feeds)), k)
        new = edited = changed = 0
        for i in sorted(chosen):
            f = self.feeds[i]
            n, e = f.change(self.cycle)
            if n or e or not self.args.real:
                changed += 1
            new += n
            edited += e
            self.served[self.paths[i]] = self._serve(f)
        return {"cycle": self.cycle, "changed_feeds": changed, "new_items": new, "edited_items": edited}


def count(state, status):
    state.stats[status] = state.stats.get(status, 0) + 1


async def handle(state, reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) < 3:
                return
            method, target, version = parts[0], parts[1], parts[2]
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            if headers.get("content-length"):
                await reader.readexactly(int(headers["content-length"]))
            keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
            if version == "HTTP/1.0" and headers.get("connection", "").lower() == "keep-alive":
                keep = True
            if DEBUG:
                print(method, target, {k: v for k, v in headers.items() if k.startswith("if-")}, file=sys.stderr, flush=True)
            status, extra, body = respond(state, method, target, headers)
            conn = b"keep-alive" if keep else b"close"
            out = b"HTTP/1.1 %s\r\nServer: feedserver\r\nConnection: %s\r\nContent-Length: %d\r\n%s\r\n" % (
                status.encode(),
                conn,
                len(body),
                extra,
            )
            writer.write(out)
            if method != "HEAD":
                writer.write(body)
            await writer.drain()
            if not keep:
                return
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        return
    finally:
        try:
            writer.close()
        except Exception:
            pass


def respond(state, method, target, headers):
    path, _, query = target.partition("?")
    s = state.served.get(path)
    if s is not None:
        inm = headers.get("if-none-match")
        ims = headers.get("if-modified-since")
        if (inm is not None and s.etag in inm) or (inm is None and ims == s.last_modified):
            count(state, "304")
            return "304 Not Modified", b"ETag: %s\r\n" % s.etag.encode(), b""
        count(state, "200")
        extra = b"Content-Type: %s\r\nETag: %s\r\nLast-Modified: %s\r\nCache-Control: no-cache\r\n" % (
            s.ctype.encode(),
            s.etag.encode(),
            s.last_modified.encode(),
        )
        body = s.body
        if s.gz is not None and "gzip" in headers.get("accept-encoding", ""):
            extra += b"Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n"
            body = s.gz
        state.bytes += len(body)
        return "200 OK", extra, body
    if path == "/_ctl/feeds":
        return "200 OK", b"Content-Type: text/plain\r\n", ("\n".join(state.paths) + "\n").encode()
    if path == "/_ctl/advance":
        return "200 OK", b"Content-Type: application/json\r\n", json.dumps(state.advance()).encode()
    if path == "/_ctl/stats":
        out = dict(state.stats, bytes=state.bytes, render_secs=round(state.render_secs, 2))
        if "reset=1" in query:
            state.stats = {}
            state.bytes = 0
        return "200 OK", b"Content-Type: application/json\r\n", json.dumps(out).encode()
    count(state, "404")
    return "404 Not Found", b"Content-Type: text/plain\r\n", b"no such feed\n"


async def main_async(args):
    state = State(args)
    server = await asyncio.start_server(
        lambda r, w: handle(state, r, w), "127.0.0.1", args.port, backlog=1024, limit=1 << 16
    )
    port = server.sockets[0].getsockname()[1]
    # the driver waits for this line
    print("READY %d %d %.2f" % (port, len(state.paths), state.render_secs), flush=True)
    async with server:
        await server.serve_forever()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=100, help="number of feeds")
    p.add_argument("--items", type=int, default=50, help="items per synthetic feed")
    p.add_argument("--seed", type=int, default=1, help="seed of the synthetic feeds and of the changes")
    p.add_argument("--change", type=float, default=10.0, help="percent of feeds changed by each advance")
    p.add_argument("--real", metavar="DIR", help="serve captured series under DIR instead of synthetic feeds")
    p.add_argument("--cycles-hint", type=int, default=10, help="advances planned (--real keeps room for them)")
    p.add_argument("--gzip", action="store_true", help="gzip bodies for clients that accept it")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    args = p.parse_args()
    try:
        asyncio.run(main_async(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
