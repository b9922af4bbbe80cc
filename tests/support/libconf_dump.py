"""Reference reader for the gala-gopher configuration tests, using PyPI's libconf.

For each file named on the command line, prints "=== FILE", then every setting as
"path type value", one per line, in the same format as libconfig_dump.c, or a single line
"!error reason" when libconf rejects the file. One process reads many files: starting Python
costs far more than reading a configuration.
"""
import struct
import sys

import libconf


def text(s):
    out = []
    for b in s.encode("utf-8"):
        if b < 0x20 or b >= 0x7F or b in (0x22, 0x5C):
            out.append("\\x%02x" % b)
        else:
            out.append(chr(b))
    return '"' + "".join(out) + '"'


def dump(path, v, out):
    if isinstance(v, dict):
        out.append("%s group %d" % (path, len(v)))
        for k, x in v.items():
            dump(path + "." + k if path else k, x, out)
    elif isinstance(v, (tuple, list)):
        kind = "list" if isinstance(v, tuple) else "array"
        out.append("%s %s %d" % (path, kind, len(v)))
        for i, x in enumerate(v):
            dump("%s[%d]" % (path, i), x, out)
    elif isinstance(v, bool):
        out.append("%s bool %d" % (path, int(v)))
    elif isinstance(v, libconf.LibconfInt64):
        out.append("%s int64 %d" % (path, v))
    elif isinstance(v, int):
        out.append("%s int %d" % (path, v))
    elif isinstance(v, float):
        out.append("%s float %016x" % (path, struct.unpack("<Q", struct.pack("<d", v))[0]))
    elif isinstance(v, str):
        out.append("%s string %s" % (path, text(v)))
    else:
        out.append("%s none" % path)


def main():
    for name in sys.argv[1:]:
        print("=== " + name)
        try:
            with open(name, encoding="utf-8") as f:
                config = libconf.load(f)
        except Exception as e:  # every rejection is reported the same way
            print("!error " + " ".join(str(e).split()))
            continue
        out = []
        for k, v in config.items():
            dump(k, v, out)
        for line in out:
            print(line)


main()
