"""Rules that turn zsalloc's cc_library targets into what ships: the list of
public headers and one static archive that exports only the public API.

Native Bazel 4.2.3 has neither: a cc_library's own lib<name>.a holds only its
own srcs, and no rule combines several libraries into one archive.
"""

load("@bazel_tools//tools/cpp:toolchain_utils.bzl", "find_cpp_toolchain")

def _cc_public_headers_impl(ctx):
    headers = []
    for dep in ctx.attr.deps:
        headers.extend(dep[CcInfo].compilation_context.direct_public_headers)
    return [DefaultInfo(
        files = depset(headers),
        runfiles = ctx.runfiles(files = headers),
    )]

cc_public_headers = rule(
    implementation = _cc_public_headers_impl,
    doc = "The `hdrs` of each cc_library in `deps` (not of their deps): " +
          "the headers a library promises to its users.",
    attrs = {
        "deps": attr.label_list(providers = [CcInfo]),
    },
)

def _cc_static_archive_impl(ctx):
    cc_toolchain = find_cpp_toolchain(ctx)

    # Every object of every library linked into `deps`, each once. Position-
    # independent objects when there are any: the archive then links into PIE
    # programs (Debian's default) and into shared objects alike.
    objects = {}
    for dep in ctx.attr.deps:
        for linker_input in dep[CcInfo].linking_context.linker_inputs.to_list():
            for lib in linker_input.libraries:
                objs = lib.pic_objects or lib.objects
                if not objs:
                    fail("%s: %s has no object files (a prebuilt library?); " %
                         (ctx.label, linker_input.owner) +
                         "it cannot go into a combined archive")
                for obj in objs:
                    objects[obj.path] = obj
    objects = [objects[path] for path in sorted(objects)]

    # One relocatable object for the whole library (ld -r), in which every
    # global symbol that `version_script` does not list becomes local: a
    # program that links the archive sees the same API as one that links the
    # shared object, and the internal names (os_close, tlsf_init, zs_slot_alloc,
    # ...) cannot clash with the program's own.
    out = ctx.outputs.out
    member = out.basename
    if member.startswith("lib"):
        member = member[len("lib"):]
    member = member.rsplit(".", 1)[0] + ".o"  # libzsalloc.a holds zsalloc.o
    args = ctx.actions.args()
    args.add(cc_toolchain.ld_executable)
    args.add(cc_toolchain.objcopy_executable)
    args.add(cc_toolchain.ar_executable)
    args.add(ctx.file.version_script)
    args.add(out)
    args.add(member)
    args.add_all(objects)
    ctx.actions.run_shell(
        inputs = depset(objects + [ctx.file.version_script], transitive = [cc_toolchain.all_files]),
        outputs = [out],
        arguments = [args],
        command = """
set -eu
ld=$1 objcopy=$2 ar=$3 map=$4 out=$5 member=$6
shift 6
tmp=$out.tmp
rm -rf "$tmp" && mkdir "$tmp"
merged=$tmp/$member keep=$tmp/keep
# The names of the version script's global: section, one per line.
sed -n 's/^[[:space:]]*\\([A-Za-z_][A-Za-z0-9_]*\\);.*$/\\1/p' "$map" >"$keep"
[ -s "$keep" ] || { echo "$map: no exported names found" >&2; exit 1; }
"$ld" -r -o "$merged" "$@"
"$objcopy" --keep-global-symbols="$keep" "$merged"
rm -f "$out"
"$ar" rcsD "$out" "$merged"
rm -rf "$tmp"
""",
        mnemonic = "CcStaticArchive",
        progress_message = "Archiving %s" % out.short_path,
    )
    return [DefaultInfo(
        files = depset([out]),
        runfiles = ctx.runfiles(files = [out]),
    )]

cc_static_archive = rule(
    implementation = _cc_static_archive_impl,
    doc = "One static archive `out` of every library in `deps` (transitively), " +
          "exporting only the functions that `version_script` lists as global.",
    attrs = {
        "deps": attr.label_list(providers = [CcInfo]),
        "out": attr.output(mandatory = True),
        "version_script": attr.label(allow_single_file = True, mandatory = True),
        "_cc_toolchain": attr.label(
            default = "@bazel_tools//tools/cpp:current_cc_toolchain",
        ),
    },
    fragments = ["cpp"],
    toolchains = ["@bazel_tools//tools/cpp:toolchain_type"],
)
