/*
 * datadir.c - finding tools/data; see datadir.h.
 */
#include "tools/datadir.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DATA_DIR "zsalloc/tools/data" /* under a runfiles tree */

static int is_dir(const char *path)
{
	DIR *d = opendir(path);

	if (d)
		closedir(d);
	return d != NULL;
}

int data_dir_find(const char *argv0, char *out, size_t len)
{
	const char *env;
	char exe[PATH_MAX];
	ssize_t n;

	env = getenv("RUNFILES_DIR");
	if (env && snprintf(out, len, "%s/%s", env, DATA_DIR) < (int)len && is_dir(out))
		return 0;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		if (snprintf(out, len, "%s.runfiles/%s", exe, DATA_DIR) < (int)len && is_dir(out))
			return 0;
	}
	if (argv0 && snprintf(out, len, "%s.runfiles/%s", argv0, DATA_DIR) < (int)len &&
	    is_dir(out))
		return 0;
	if (snprintf(out, len, "tools/data") < (int)len && is_dir(out))
		return 0;
	env = getenv("BUILD_WORKSPACE_DIRECTORY");
	if (env && snprintf(out, len, "%s/tools/data", env) < (int)len && is_dir(out))
		return 0;
	return -1;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int data_dir_traces(const char *dir, char ***paths)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **list = NULL;
	int n = 0, cap = 0;

	*paths = NULL;
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char *path;

		if (len < 7 || strcmp(de->d_name + len - 6, ".trace"))
			continue;
		if (n == cap) {
			char **grown = realloc(list,
					       (size_t)(cap = cap ? cap * 2 : 8) * sizeof(*list));
			if (!grown)
				goto fail;
			list = grown;
		}
		path = malloc(strlen(dir) + len + 2);
		if (!path)
			goto fail;
		sprintf(path, "%s/%s", dir, de->d_name);
		list[n++] = path;
	}
	closedir(d);
	if (n)
		qsort(list, (size_t)n, sizeof(*list), name_cmp);
	*paths = list;
	return n;
fail:
	closedir(d);
	data_dir_free(list, n);
	return -1;
}

void data_dir_free(char **paths, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}
