#!/usr/bin/python3
"""SMTP sink for the peers benchmark: accepts every message on 127.0.0.1 and
appends one line per recipient to --log: "<recipient>\t<subject>".

Run it with Debian's /usr/bin/python3 (python3-aiosmtpd is installed for that
interpreter only; a pyenv `python3` on PATH may lack it). The driver gives
each tool its own recipient address, so one sink serves all of them and the
driver counts a tool's mails by its address. A line is written and flushed
before the server answers 250, so when a tool has exited, every message it
sent is already in the log.
"""

import argparse
import signal
import sys

from aiosmtpd.controller import Controller


class CountingHandler:
    def __init__(self, log):
        self.log = log

    async def handle_DATA(self, server, session, envelope):
        data = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        subject = ""
        head = data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        for line in head.splitlines():
            if line[:8].lower() == b"subject:":
                subject = line[8:].strip().decode("utf-8", "replace")
                break
        for rcpt in envelope.rcpt_tos:
            self.log.write("%s\t%s\n" % (rcpt.lower(), subject.replace("\t", " ")))
        self.log.flush()
        return "250 OK"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True)
    args = p.parse_args()
    log = open(args.log, "a", encoding="utf-8")
    # decode_data=False: count bytes as sent; generous size limit
    # block SIGTERM/SIGINT before the server thread starts (it inherits the
    # mask), then wait for one here and stop cleanly
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    controller = Controller(
        CountingHandler(log), hostname="127.0.0.1", port=args.port, data_size_limit=64 << 20
    )
    controller.start()
    print("READY %d" % args.port, flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()
    log.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
