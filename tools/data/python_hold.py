# python_hold.py - the Python process of python.trace: it holds real data
# structures (the ASTs of the standard library's sources, every source line
# as a string, a word -> [(file, line)] index), prints its pid, and sleeps.
import ast, os, sysconfig, time

root = sysconfig.get_paths()["stdlib"]
trees, lines, index = [], [], {}
for d, _, files in os.walk(root):
    for f in sorted(files):
        if not f.endswith(".py"):
            continue
        p = os.path.join(d, f)
        try:
            src = open(p, encoding="utf-8").read()
            trees.append(ast.parse(src))
        except Exception:
            continue
        for n, line in enumerate(src.splitlines()):
            lines.append(line)
            for w in line.split():
                index.setdefault(w, []).append((p, n))
print(os.getpid(), len(trees), len(lines), len(index), flush=True)
time.sleep(3600)
