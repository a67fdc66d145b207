/* Runs what include_<header>.c define (see include_test.h). */
#include <stdio.h>

#include "tests/packaging/include_test.h"

static int failed(const char *name, int result)
{
	if (result != 0)
		fprintf(stderr, "%s failed\n", name);
	return result != 0;
}

int main(void)
{
	return failed("use_mapping", use_mapping()) | failed("use_xvmalloc", use_xvmalloc()) |
	       failed("use_zsmalloc", use_zsmalloc());
}
