# redis_load.py - the data loaded into the Redis server of redis.trace, as
# Redis protocol on stdout:  python3 redis_load.py | redis-cli -p 6399 --pipe
# Debian's package database (a hash of dpkg status fields per package, a list
# of each package's files), every copyright file, and every manual page under
# /usr/share/man (as text). Real data of a real machine, nothing generated.
import glob, gzip, os, sys

out = sys.stdout.buffer


def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    out.write(b"".join(parts))


status = open("/var/lib/dpkg/status", encoding="utf-8", errors="replace").read()
for block in status.split("\n\n"):
    fields, key = {}, None
    for line in block.splitlines():
        if line.startswith(" ") and key:
            fields[key] += "\n" + line
        elif ":" in line:
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    if "Package" in fields:
        args = ["HSET", "pkg:" + fields["Package"]]
        for k, v in fields.items():
            args += [k, v]
        cmd(*args)
for lst in glob.glob("/var/lib/dpkg/info/*.list"):
    files = open(lst, encoding="utf-8", errors="replace").read().split()
    for i in range(0, len(files), 500):
        cmd("RPUSH", "files:" + os.path.basename(lst)[:-5], *files[i:i + 500])
for c in glob.glob("/usr/share/doc/*/copyright"):
    try:
        cmd("SET", "copyright:" + c.split("/")[4], open(c, "rb").read())
    except OSError:
        pass
for p in glob.glob("/usr/share/man/**/*.gz", recursive=True):
    try:
        cmd("SET", "man:" + p[len("/usr/share/man/"):], gzip.open(p).read())
    except OSError:
        pass
