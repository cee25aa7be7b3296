#!/usr/bin/python3
"""Writes corpus/layer_tar/: small layer tars (plain, gzip) with the entry
kinds a layer may hold (files, dirs, symlinks, hard links, whiteouts,
opaque dirs, devices) and hostile ones that extraction must refuse or keep
inside the root. Run from fuzz/: ./make_tar_seeds.py"""
import gzip
import io
import os
import tarfile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "layer_tar")


def tar(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for kind, name, arg in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            data = None
            if kind == "file":
                data = arg.encode()
                info.size = len(data)
                info.mode = 0o644
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
            elif kind == "sym":
                info.type = tarfile.SYMTYPE
                info.linkname = arg
            elif kind == "hard":
                info.type = tarfile.LNKTYPE
                info.linkname = arg
            elif kind == "chr":
                info.type = tarfile.CHRTYPE
                info.devmajor, info.devminor = arg
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


SEEDS = {
    "basic": [("dir", "etc", None), ("file", "etc/hostname", "layer\n"),
              ("sym", "etc/alias", "hostname"), ("hard", "etc/hard", "etc/hostname"),
              ("dir", "usr/bin", None), ("file", "usr/bin/tool", "#!/bin/sh\n")],
    "whiteouts": [("dir", "a", None), ("file", "a/.wh.gone", ""), ("file", "a/.wh..wh..opq", ""),
                  ("file", ".wh.etc", ""), ("file", "a/kept", "x")],
    "devices": [("dir", "dev", None), ("chr", "dev/null", (1, 3)), ("fifo", "dev/fifo", None),
                ("chr", "dev/wh", (0, 0))],
    "dotdot": [("file", "../escape", "x"), ("file", "a/../../escape2", "y")],
    "absolute": [("file", "/abs", "x"), ("sym", "abslink", "/etc"), ("file", "abslink/x", "y")],
    "symlink-out": [("sym", "out", "../outside"), ("file", "out/new", "x"),
                    ("sym", "deep", "../../../../../../tmp"), ("dir", "deep/d", None)],
    "hardlink-out": [("hard", "h", "../outside/secret"), ("hard", "h2", "/etc/passwd")],
    "replace": [("file", "x", "1"), ("dir", "x", None), ("sym", "x", "y"), ("file", "x", "2")],
    "gnu-longname": [("file", "d/" + "n" * 200, "long")],
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, entries in SEEDS.items():
        fmt = tarfile.GNU_FORMAT if name == "gnu-longname" else tarfile.PAX_FORMAT
        data = tar(entries, fmt)
        with open(os.path.join(OUT, name + ".tar"), "wb") as f:
            f.write(data)
    with open(os.path.join(OUT, "basic.tar.gz"), "wb") as f:
        f.write(gzip.compress(tar(SEEDS["basic"]), mtime=0))


if __name__ == "__main__":
    main()
