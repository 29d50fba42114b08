"""Drive the stock tuspy client (unmodified, from PyPI) against a Roadside server.

Usage: python tuspy_client.py ENDPOINT TOKEN FILE SHA256_HEX [--chunk N] [--checksum]
       [--store PATH] [--retries N] [--stall-at BYTES]

Prints `created <url>` / `resumed <url> <offset>` once it knows its upload, `progress <offset>` after
every chunk, and finally `done <url> <offset>`, or `error <status> <message>` (exit code 1). With
--stall-at it prints `stalled <offset>` once that many bytes are acknowledged and waits to be killed.
"""

import argparse
import os
import sys
import time

from tusclient import client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.storage import filestorage


def say(*words):
    print(*words, flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("endpoint")
    p.add_argument("token")
    p.add_argument("file")
    p.add_argument("sha256")
    p.add_argument("--chunk", type=int, default=None)
    p.add_argument("--checksum", action="store_true")
    p.add_argument("--store", default=None)
    p.add_argument("--retries", type=int, default=0)
    p.add_argument("--stall-at", type=int, default=None)
    a = p.parse_args()

    c = client.TusClient(a.endpoint, headers={"Authorization": "Bearer " + a.token})
    options = dict(
        file_path=a.file,
        metadata={"sha256": a.sha256, "filename": os.path.basename(a.file)},
        retries=a.retries,
        retry_delay=0,
        upload_checksum=a.checksum,
    )
    if a.chunk:
        options["chunk_size"] = a.chunk
    if a.store:
        options["store_url"] = True
        options["url_storage"] = filestorage.FileStorage(a.store)
    size = os.path.getsize(a.file)
    try:
        uploader = c.uploader(**options)
        if uploader.url:
            say("resumed", uploader.url, uploader.offset)
        else:
            uploader.set_url(uploader.create_url())
            uploader.offset = 0
            say("created", uploader.url)
        while uploader.offset < size:
            if a.stall_at is not None and uploader.offset >= a.stall_at:
                say("stalled", uploader.offset)
                while True:
                    time.sleep(60)
            uploader.upload_chunk()
            say("progress", uploader.offset)
        say("done", uploader.url, uploader.offset)
    except (TusCommunicationError, TusUploadFailed) as e:
        say("error", e.status_code, e)
        sys.exit(1)


if __name__ == "__main__":
    main()
