// Runs what include_<header>.cc define (see include_test.h).
#include <cstdio>

#include "tests/packaging/include_test.h"

namespace
{
int failed(const char *name, int result)
{
	if (result != 0)
		std::fprintf(stderr, "%s failed\n", name);
	return result != 0;
}
} // namespace

int main()
{
	return failed("use_mapping", use_mapping()) | failed("use_xvmalloc", use_xvmalloc()) |
	       failed("use_zsmalloc", use_zsmalloc());
}
