/*
 * datadir.h - where the tools find their bundled data (tools/data).
 *
 * Under `bazel run` and for bazel-bin/tools/<tool> the data are in the
 * binary's runfiles tree; run from a checkout they are in tools/data.
 */
#ifndef ZSALLOC_TOOLS_DATADIR_H
#define ZSALLOC_TOOLS_DATADIR_H

#include <stddef.h>

/*
 * data_dir_find - the directory of the bundled traces: the runfiles tree
 * ($RUNFILES_DIR, /proc/self/exe.runfiles, @argv0.runfiles), else
 * tools/data under the current directory or $BUILD_WORKSPACE_DIRECTORY.
 * Stores it in @out (@len bytes). Returns 0, or -1 when none exists.
 */
int data_dir_find(const char *argv0, char *out, size_t len);

/*
 * data_dir_traces - every "*.trace" file of @dir, sorted by name, as a
 * malloc'd array of malloc'd paths in *@paths (free with data_dir_free).
 * Returns the count (0: none), or -1 when @dir cannot be read or memory
 * runs out.
 */
int data_dir_traces(const char *dir, char ***paths);
void data_dir_free(char **paths, int n);

#endif /* ZSALLOC_TOOLS_DATADIR_H */
