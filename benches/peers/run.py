#!/usr/bin/env python3
"""storywatch versus the feed tools people use today, side by side.

One command (see BENCHMARKS.md, "Versus the peers"):

    python3 benches/peers/run.py --n 100,1000,10000 --out BENCHMARKS.md

For each N it starts, in their own processes, a local feed server
(feedserver.py: N feeds on 127.0.0.1 with ETag/304) and an SMTP sink
(smtp_sink.py), then runs every tool on exactly the same feeds for
--cycles cycles:

  cycle 1  cold: empty state, every feed is new;
  cycle 2+ warm: the server first changes ~10% of the feeds (new items on
           top, one or two edited items);
  last     idle: nothing changed, every conditional GET is a 304
           (with --cycles >= 3).

Every tool cycle is a child process waited for with os.wait4, whose rusage
gives CPU (user+sys of the whole process tree, reaped children included) and
peak RSS. Wall time is measured around it; the on-disk state is du'ed after
the cycle; mails are counted at the sink (per recipient address), items at
feed2exec's maildir and newsboat's cache. A tool that does not finish a cycle
within --timeout seconds is killed and reported as "timed out", and skipped
for the rest of that N.

Tools (names for --tools):
  storywatch  `storywatch once` (release build), a watch matching every story,
              an email notifier to the sink (smtp+plain)
  rss2email   Debian's rss2email 3.x, `r2e run`, SMTP to the sink
  feed2exec   Debian's feed2exec, `feed2exec fetch --parallel`, maildir output
              (feed2exec has no SMTP output; maildir builds the same mail
              message and writes it to disk)
  newsboat    Debian's newsboat, `newsboat -x reload` (fetch, parse, store in
              its SQLite cache; it sends nothing)

Peers are installed with apt-get when missing (needs root, or sudo); use
--no-install to refuse. Python 3 standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ALL_TOOLS = ["storywatch", "rss2email", "feed2exec", "newsboat"]
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, where python3-aiosmtpd lives

# Reference figures measured elsewhere on this kind of machine (1,000 local
# 50-item feeds), quoted in BENCHMARKS.md next to ours.
TARGETS = {
    "warm_cpu_ratio": 25,
    "idle_cpu_ratio": 25,
    "cold_cpu_ratio": 25,
    "warm_cpu_abs": 0.15,
    "rss_1000_mb": 30,
    "rss_10000_mb": 150,
}


def log(msg):
    print("[peers %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------


def ensure_installed(tools, allow_install):
    """apt-get installs the peers (and python3-aiosmtpd for the sink) when
    missing. Debian package names; needs root or sudo."""
    need = []
    probes = {"rss2email": "r2e", "feed2exec": "feed2exec", "newsboat": "newsboat"}
    for t in tools:
        if t in probes and shutil.which(probes[t]) is None:
            need.append(t)
    sink_ok = (
        os.path.exists(SYSTEM_PYTHON)
        and subprocess.run([SYSTEM_PYTHON, "-c", "import aiosmtpd"], capture_output=True).returncode == 0
    )
    if not sink_ok:
        need.append("python3-aiosmtpd")
    if not need:
        return
    if not allow_install:
        sys.exit("peers: missing %s (run without --no-install, as root, to apt-get them)" % " ".join(need))
    sudo = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            sys.exit("peers: missing %s and not root (no sudo): apt-get install -y %s" % (" ".join(need), " ".join(need)))
        sudo = ["sudo"]
    log("installing %s with apt-get" % " ".join(need))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + need, check=True, env=env)


def storywatch_binary(path):
    if path:
        return os.path.abspath(path)
    binary = os.path.join(REPO, "target", "release", "storywatch")
    if not os.path.exists(binary):
        log("building storywatch (cargo build --release)")
        subprocess.run(["cargo", "build", "--release", "--bin", "storywatch"], cwd=REPO, check=True)
    return binary


# ---------------------------------------------------------------------------
# Helper processes: the feed server and the SMTP sink
# ---------------------------------------------------------------------------


class Helper:
    """A helper process that prints "READY <port> ..." when it listens."""

    def __init__(self, argv, logfile):
        self.log = open(logfile, "w")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, text=True, start_new_session=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            self.stop()
            sys.exit("peers: %s did not start (see %s)" % (argv[1], logfile))
        self.ready = line.split()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def free_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http_json(url):
    with urllib.request.urlopen(url, timeout=600) as r:
        return json.loads(r.read())


# ---------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------


def run_measured(argv, cwd, env, timeout, logpath):
    """Runs argv as a new process group; returns wall, cpu, maxrss_kb, exit
    code, timed_out. CPU and RSS come from wait4's rusage: the child and
    every descendant it reaped."""
    with open(logpath, "ab") as out:
        out.write(("\n$ %s\n" % " ".join(shlex.quote(a) for a in argv)).encode())
        out.flush()
        start = time.monotonic()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True)
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            if os.path.basename(argv[0]) == "storywatch" and shutil.which("gdb"):
                # a storywatch that hangs is a bug: keep its thread stacks
                subprocess.run(
                    ["gdb", "-p", str(proc.pid), "-batch", "-ex", "thread apply all bt 30"],
                    stdout=out, stderr=subprocess.DEVNULL, timeout=120,
                )
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # only the group we started
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.daemon = True  # never keeps an interrupted driver alive
        timer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        except BaseException:
            # the driver is being stopped: take the tool down with it
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            raise
        finally:
            timer.cancel()
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if timed_out.is_set():
            # the group may still have stragglers: make sure they are gone
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return {
        "wall": wall,
        "cpu": ru.ru_utime + ru.ru_stime,
        "user": ru.ru_utime,
        "sys": ru.ru_stime,
        "maxrss_mb": ru.ru_maxrss / 1024.0,
        "exit": proc.returncode,
        "timed_out": timed_out.is_set(),
    }


def du_bytes(*paths):
    """Allocated bytes, like du: files, or directories walked."""
    total = 0
    for p in paths:
        if os.path.isfile(p):
            total += os.stat(p).st_blocks * 512
        elif os.path.isdir(p):
            for root, _dirs, files in os.walk(p):
                for f in files:
                    try:
                        total += os.lstat(os.path.join(root, f)).st_blocks * 512
                    except FileNotFoundError:
                        pass
    return total


class Sink:
    """Counts the sink's log lines by recipient."""

    def __init__(self, path):
        self.path = path

    def count(self, rcpt):
        n = 0
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith(rcpt + "\t"):
                        n += 1
        except FileNotFoundError:
            pass
        return n


# ---------------------------------------------------------------------------
# The tools
# ---------------------------------------------------------------------------


class Tool:
    name = "?"
    rcpt = None

    def __init__(self, root, urls, smtp_port, sink, args):
        self.dir = os.path.join(root, self.name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.urls = urls
        self.smtp_port = smtp_port
        self.sink = sink
        self.args = args
        self.env = dict(os.environ, HOME=self.dir, LC_ALL="C.UTF-8", LANG="C.UTF-8", TERM="dumb")
        self.setup()

    def alerts(self):
        return self.sink.count(self.rcpt)


class Storywatch(Tool):
    name = "storywatch"
    rcpt = "storywatch@bench.invalid"

    def setup(self):
        self.config = os.path.join(self.dir, "config.toml")
        lines = [
            "# written by benches/peers/run.py",
            "[daemon]",
            'state_dir = "%s"' % os.path.join(self.dir, "state"),
            # every feed is on one host (127.0.0.1): lift the politeness
            # limits that exist for real, separate sites
            "concurrency = %d" % self.args.sw_concurrency,
            "per_host_concurrency = %d" % self.args.sw_concurrency,
            'per_host_delay = "0s"',
            'timeout = "120s"',
        ] + self.args.sw_daemon + [
            'log_level = "warn"',
            'log_format = "text"',
            "",
            "[[watch]]",
            'name = "everything"',
            'any = ["the", "a"]',
            "",
            "[[notifier]]",
            'name = "sink"',
            'type = "email"',
            'smtp = "smtp+plain://127.0.0.1:%d"' % self.smtp_port,
            'from = "storywatch <storywatch@bench.invalid>"',
            'to = ["%s"]' % self.rcpt,
            "",
        ]
        for i, url in enumerate(self.urls):
            lines += ["[[feed]]", 'name = "f%05d"' % i, 'url = "%s"' % url, ""]
        with open(self.config, "w") as f:
            f.write("\n".join(lines))

    def argv(self):
        return [self.args.storywatch, "once", "--config", self.config]

    def state_bytes(self):
        return du_bytes(os.path.join(self.dir, "state"))


class StorywatchBefore(Storywatch):
    """Another storywatch build (--baseline) on the same feeds, in its own
    state directory: before → after of a change in one run."""

    name = "storywatch-before"
    rcpt = "storywatch-before@bench.invalid"

    def argv(self):
        return [self.args.baseline, "once", "--config", self.config]


class Rss2email(Tool):
    name = "rss2email"
    rcpt = "r2e@bench.invalid"

    def setup(self):
        self.cfg = os.path.join(self.dir, "r2e.cfg")
        self.data = os.path.join(self.dir, "r2e.json")
        # `r2e new` writes the full default config; `r2e add` per feed would
        # cost ~0.3 s a feed (a Python start each), so the driver appends the
        # same [feed.NAME] sections that `r2e add` writes.
        subprocess.run(["r2e", "-c", self.cfg, "-d", self.data, "new", self.rcpt], check=True, env=self.env, capture_output=True)
        with open(self.cfg) as f:
            text = f.read()
        settings = {
            "email-protocol": "smtp",
            "smtp-server": "127.0.0.1",
            "smtp-port": str(self.smtp_port),
            "smtp-ssl": "False",
            "smtp-auth": "False",
            "same-server-fetch-interval": "0",
        }
        out = []
        for line in text.splitlines():
            key = line.split("=", 1)[0].strip()
            if key in settings and "=" in line and not line.lstrip().startswith("#"):
                line = "%s = %s" % (key, settings.pop(key))
            out.append(line)
        out.insert(out.index("[DEFAULT]") + 1, "\n".join("%s = %s" % kv for kv in settings.items()))
        for i, url in enumerate(self.urls):
            out += ["", "[feed.f%05d]" % i, "url = %s" % url]
        with open(self.cfg, "w") as f:
            f.write("\n".join(out) + "\n")

    def argv(self):
        return ["r2e", "-c", self.cfg, "-d", self.data, "run"]

    def state_bytes(self):
        return du_bytes(self.data)


class Feed2exec(Tool):
    name = "feed2exec"

    def setup(self):
        self.ini = os.path.join(self.dir, "feed2exec.ini")
        self.db = os.path.join(self.dir, "feed2exec.db")
        self.maildir = os.path.join(self.dir, "Maildir")
        with open(self.ini, "w") as f:
            for i, url in enumerate(self.urls):
                f.write("[f%05d]\nurl = %s\noutput = feed2exec.plugins.maildir\nmailbox = %s\nargs = feed2exec@bench.invalid\n\n" % (i, url, self.maildir))

    def argv(self):
        return ["feed2exec", "--config", self.ini, "--database", self.db, "fetch", "--parallel"]

    def state_bytes(self):
        return du_bytes(self.db)

    def alerts(self):
        n = 0
        for root, dirs, files in os.walk(self.maildir):
            if os.path.basename(root) in ("new", "cur"):
                n += len(files)
        return n


class Newsboat(Tool):
    name = "newsboat"

    def setup(self):
        self.urlfile = os.path.join(self.dir, "urls")
        self.cache = os.path.join(self.dir, "cache.db")
        self.conf = os.path.join(self.dir, "config")
        with open(self.urlfile, "w") as f:
            f.write("\n".join(self.urls) + "\n")
        with open(self.conf, "w") as f:
            # parallel downloads: the fair setting for many feeds
            f.write("reload-threads %d\nauto-reload no\nshow-read-feeds yes\n" % self.args.newsboat_threads)

    def argv(self):
        return ["newsboat", "-q", "-x", "reload", "-u", self.urlfile, "-c", self.cache, "-C", self.conf]

    def state_bytes(self):
        return du_bytes(self.cache)

    def alerts(self):
        """Items in the cache: newsboat mails nothing; the delta per cycle is
        how many items it stored as new."""
        if not os.path.exists(self.cache):
            return 0
        con = sqlite3.connect("file:%s?mode=ro" % self.cache, uri=True)
        try:
            return con.execute("select count(*) from rss_item").fetchone()[0]
        except sqlite3.Error:
            return 0
        finally:
            con.close()


TOOL_CLASSES = {c.name: c for c in (Storywatch, StorywatchBefore, Rss2email, Feed2exec, Newsboat)}


# ---------------------------------------------------------------------------
# One N
# ---------------------------------------------------------------------------


def cycle_kinds(n_cycles):
    kinds = ["cold"]
    for i in range(1, n_cycles):
        kinds.append("idle" if (i == n_cycles - 1 and n_cycles >= 3) else "warm")
    return kinds


def bench_n(n, args, workroot):
    root = os.path.join(workroot, "n%d" % n)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    log("N=%d: rendering feeds" % n)
    server_argv = [
        sys.executable,
        os.path.join(HERE, "feedserver.py"),
        "--n", str(n), "--items", str(args.items), "--seed", str(args.seed),
        "--change", str(args.change), "--cycles-hint", str(args.cycles),
    ]
    if args.real:
        server_argv += ["--real", args.real]
    if args.gzip:
        server_argv += ["--gzip"]
    server = Helper(server_argv, os.path.join(root, "feedserver.log"))
    port = int(server.ready[1])
    base = "http://127.0.0.1:%d" % port
    log("N=%d: feed server on %s (rendered in %ss)" % (n, base, server.ready[3]))
    smtp_port = free_port()
    sink_log = os.path.join(root, "sink.log")
    sink = Helper([SYSTEM_PYTHON, os.path.join(HERE, "smtp_sink.py"), "--port", str(smtp_port), "--log", sink_log], os.path.join(root, "sink.err"))
    results = {"n": n, "cycles": [], "tools": {}}
    try:
        with urllib.request.urlopen(base + "/_ctl/feeds") as r:
            urls = [base + p for p in r.read().decode().split()]
        tools = [TOOL_CLASSES[t](root, urls, smtp_port, Sink(sink_log), args) for t in args.tools]
        dead = set()
        for c, kind in enumerate(cycle_kinds(args.cycles), 1):
            truth = {"cycle": c, "kind": kind, "changed_feeds": 0, "new_items": 0, "edited_items": 0}
            if kind == "warm":
                change = http_json(base + "/_ctl/advance")
                truth.update({k: change[k] for k in ("changed_feeds", "new_items", "edited_items")})
            elif kind == "cold":
                truth["new_items"] = n * args.items if not args.real else None
            results["cycles"].append(truth)
            log("N=%d cycle %d (%s): %s" % (n, c, kind, {k: v for k, v in truth.items() if k not in ("cycle", "kind")}))
            for tool in tools:
                row = {"tool": tool.name, "cycle": c, "kind": kind}
                if tool.name in dead:
                    row["skipped"] = True
                    results["tools"].setdefault(tool.name, []).append(row)
                    continue
                http_json(base + "/_ctl/stats?reset=1")
                before = tool.alerts()
                m = run_measured(tool.argv(), tool.dir, tool.env, args.timeout, os.path.join(tool.dir, "run.log"))
                row.update(m)
                row["alerts"] = tool.alerts() - before
                row["state_mb"] = tool.state_bytes() / 1e6
                row["http"] = http_json(base + "/_ctl/stats?reset=1")
                if m["timed_out"]:
                    dead.add(tool.name)
                results["tools"].setdefault(tool.name, []).append(row)
                log(
                    "  %-10s %s wall %.2fs cpu %.2fs rss %.1fMB state %.1fMB alerts %d http %s exit %s"
                    % (
                        tool.name,
                        "TIMED OUT" if m["timed_out"] else "",
                        m["wall"], m["cpu"], m["maxrss_mb"], row["state_mb"], row["alerts"],
                        {k: v for k, v in row["http"].items() if k in ("200", "304", "404")},
                        m["exit"],
                    )
                )
    finally:
        sink.stop()
        server.stop()
        if not args.keep:
            for t in args.tools:
                shutil.rmtree(os.path.join(root, t, "Maildir"), ignore_errors=True)
    return results


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = "%.0f GiB" % (int(f.readline().split()[1]) / 1048576)
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(), "mem": mem, "load": load}


def versions():
    out = {}
    for pkg in ("rss2email", "feed2exec", "newsboat"):
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
        out[pkg] = r.stdout.strip() or "?"
    return out


def fmt_ratio(x, base):
    if x is None or base is None or base <= 0:
        return ""
    return "%.0f×" % (x / base) if x / base >= 10 else "%.1f×" % (x / base)


def table(res):
    """Markdown table for one N: one row per tool and cycle."""
    sw = {r["cycle"]: r for r in res["tools"].get("storywatch", [])}
    lines = [
        "| cycle | tool | wall s | CPU s | CPU vs storywatch | peak RSS MB | RSS vs storywatch | state MB | alerts / mails | HTTP 200 / 304 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for truth in res["cycles"]:
        c = truth["cycle"]
        for tool in res["tools"]:
            r = next((x for x in res["tools"][tool] if x["cycle"] == c), None)
            if r is None:
                continue
            label = "%d %s" % (c, truth["kind"])
            if r.get("skipped"):
                lines.append("| %s | %s | skipped (timed out earlier) | | | | | | | |" % (label, tool))
                continue
            base = sw.get(c)
            if r["timed_out"]:
                lines.append("| %s | %s | **timed out** (> %.0f s) | %.1f | | %.0f | | %.1f | %d so far | %s / %s |" % (
                    label, tool, r["wall"], r["cpu"], r["maxrss_mb"], r["state_mb"], r["alerts"],
                    r["http"].get("200", 0), r["http"].get("304", 0)))
                continue
            ok_base = base and not base.get("timed_out") and not base.get("skipped")
            lines.append(
                "| %s | %s | %.2f | %.2f | %s | %.1f | %s | %.1f | %d | %s / %s |%s"
                % (
                    label, tool, r["wall"], r["cpu"],
                    "1×" if tool == "storywatch" else fmt_ratio(r["cpu"], base["cpu"] if ok_base else None),
                    r["maxrss_mb"],
                    "1×" if tool == "storywatch" else fmt_ratio(r["maxrss_mb"], base["maxrss_mb"] if ok_base else None),
                    r["state_mb"], r["alerts"],
                    r["http"].get("200", 0), r["http"].get("304", 0),
                    "" if r["exit"] == 0 else " exit %s" % r["exit"],
                )
            )
    truth_lines = []
    for t in res["cycles"]:
        if t["kind"] == "warm":
            truth_lines.append(
                "cycle %d: the server changed %d feeds: %d new items, %d edited items"
                % (t["cycle"], t["changed_feeds"], t["new_items"], t["edited_items"])
            )
    return "\n".join(lines), truth_lines


def render_markdown(all_results, args, cmd):
    m = machine()
    v = versions()
    out = [
        "<!-- peers:begin (written by benches/peers/run.py; edit outside these markers) -->",
        "",
        "Run of %s UTC. Machine: `nproc` = %s, %s, kernel %s, %s RAM; load average at start %s."
        % (datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"), m["nproc"], m["cpu"], m["kernel"], m["mem"], m["load"]),
        "Peers: rss2email %s, feed2exec %s, newsboat %s (Debian packages). Feeds: %s, %d%% changed per warm cycle%s."
        % (
            v["rss2email"], v["feed2exec"], v["newsboat"],
            "real captures from %s" % args.real if args.real else "synthetic, %d items each (2/3 RSS 2.0, 1/3 Atom)" % args.items,
            args.change, ", gzip" if args.gzip else "",
        ),
        "",
        "Command:",
        "",
        "```sh",
        cmd,
        "```",
        "",
    ]
    for res in all_results:
        t, truth = table(res)
        out += ["### N = %s feeds" % format(res["n"], ","), ""]
        if truth:
            out += ["Ground truth: " + "; ".join(truth) + ".", ""]
        out += [t, ""]
    out.append("<!-- peers:end -->")
    return "\n".join(out)


def write_out(path, block):
    """Replaces the generated block inside "## Versus the peers" (or appends
    the section)."""
    text = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
    begin = text.find("<!-- peers:begin")
    end = text.find("<!-- peers:end -->")
    if begin >= 0 and end > begin:
        text = text[:begin] + block + text[end + len("<!-- peers:end -->"):]
    else:
        text = text.rstrip() + "\n\n## Versus the peers\n\n" + block + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    # a SIGTERM'd driver still stops its helper processes (finally blocks)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", default="100,1000", help="feed counts, comma-separated (default 100,1000)")
    p.add_argument("--cycles", type=int, default=3, help="cycles per tool: cold, warm…, idle (default 3)")
    p.add_argument("--tools", default=",".join(ALL_TOOLS), help="comma-separated subset of %s" % ",".join(ALL_TOOLS))
    p.add_argument("--timeout", type=float, default=600, help="per-cycle time limit in seconds (default 600)")
    p.add_argument(
        "--real", nargs="?", metavar="DIR",
        const=os.path.join(os.environ.get("STORYWATCH_CORPUS", ""), "timeseries"),
        help="serve real captured feeds (default DIR: $STORYWATCH_CORPUS/timeseries)",
    )
    p.add_argument("--out", help="write the table into this markdown file (section \"Versus the peers\")")
    p.add_argument("--json", help="also write the raw results here")
    p.add_argument("--items", type=int, default=50, help="items per synthetic feed (default 50)")
    p.add_argument("--change", type=float, default=10.0, help="percent of feeds changed per warm cycle (default 10)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--gzip", action="store_true", help="serve gzip to clients that accept it")
    p.add_argument("--workdir", default=os.path.join(REPO, "target", "peers-bench"), help="state of the tools (default target/peers-bench)")
    p.add_argument("--storywatch", help="storywatch binary (default: target/release/storywatch, built if missing)")
    p.add_argument("--baseline", metavar="BINARY", help="also run this storywatch build (tool storywatch-before), e.g. the last release, for before → after")
    p.add_argument("--sw-concurrency", type=int, default=64, help="storywatch concurrency and per_host_concurrency (default 64)")
    p.add_argument("--sw-daemon", action="append", default=[], metavar="KEY=VALUE", help='an extra [daemon] line for storywatch, e.g. --sw-daemon \'cache_size = "8MiB"\' (repeatable)')
    p.add_argument("--newsboat-threads", type=int, default=32, help="newsboat reload-threads (default 32)")
    p.add_argument("--no-install", action="store_true", help="never apt-get missing peers")
    p.add_argument("--keep", action="store_true", help="keep feed2exec's maildir after the run")
    args = p.parse_args()
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    for t in args.tools:
        if t not in TOOL_CLASSES:
            p.error("unknown tool %r (known: %s)" % (t, ", ".join(ALL_TOOLS)))
    if args.real and not os.path.isdir(args.real):
        p.error("--real: %s is not a directory (set STORYWATCH_CORPUS or give DIR)" % args.real)
    ns = [int(x.replace("_", "")) for x in args.n.split(",") if x.strip()]
    if args.baseline:
        if not os.access(args.baseline, os.X_OK):
            p.error("--baseline: %s is not an executable storywatch binary" % args.baseline)
        args.tools.insert(0, "storywatch-before")
    ensure_installed([t for t in args.tools if t != "storywatch-before"], not args.no_install)
    if "storywatch" in args.tools:
        args.storywatch = storywatch_binary(args.storywatch)
    cmd = "python3 benches/peers/run.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    all_results = []
    for n in ns:
        all_results.append(bench_n(n, args, os.path.abspath(args.workdir)))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"machine": machine(), "command": cmd, "results": all_results}, f, indent=1)
    block = render_markdown(all_results, args, cmd)
    print(block)
    if args.out:
        write_out(args.out, block)
        log("wrote %s" % args.out)


if __name__ == "__main__":
    main()
