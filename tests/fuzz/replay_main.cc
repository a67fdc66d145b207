// replay_main.cc - a main() for fuzz targets without libFuzzer: runs every
// input named on the command line (files, or directories of files, taken in
// name order) through LLVMFuzzerTestOneInput once. The <target>_replay
// tests run the committed corpus this way under plain gcc and under every
// sanitizer config; a fuzz target that finds a broken promise aborts, and so
// fails the test. With no input at all it fails too: a replay of nothing
// would test nothing.
//
//   bazel-bin/tests/fuzz/zsmalloc_fuzz_replay tests/fuzz/corpus/zsmalloc_fuzz
//   bazel-bin/tests/fuzz/zsmalloc_fuzz crash-1234    (without --config=fuzz)
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace
{

bool read_file(const std::string &path, std::vector<uint8_t> *out)
{
	std::ifstream f(path, std::ios::binary);
	if (!f)
		return false;
	out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
	return !f.bad();
}

// Adds path, or the regular files of directory path (not recursively).
bool collect(const std::string &path, std::vector<std::string> *files)
{
	struct stat st;
	if (stat(path.c_str(), &st) != 0) {
		std::fprintf(stderr, "replay: cannot stat %s\n", path.c_str());
		return false;
	}
	if (!S_ISDIR(st.st_mode)) {
		files->push_back(path);
		return true;
	}
	DIR *d = opendir(path.c_str());
	if (!d) {
		std::fprintf(stderr, "replay: cannot open %s\n", path.c_str());
		return false;
	}
	std::vector<std::string> found;
	while (struct dirent *e = readdir(d)) {
		std::string name = e->d_name;
		if (name == "." || name == "..")
			continue;
		std::string full = path + "/" + name;
		if (stat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode))
			found.push_back(full);
	}
	closedir(d);
	std::sort(found.begin(), found.end());
	files->insert(files->end(), found.begin(), found.end());
	return true;
}

} // namespace

int main(int argc, char **argv)
{
	std::vector<std::string> files;
	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];
		if (!a.empty() && a[0] == '-')
			continue; // libFuzzer flags: ignored
		if (!collect(a, &files))
			return 1;
	}
	if (files.empty()) {
		std::fprintf(stderr, "replay: no inputs (give files or directories)\n");
		return 1;
	}
	size_t bytes = 0;
	for (const std::string &f : files) {
		std::vector<uint8_t> data;
		if (!read_file(f, &data)) {
			std::fprintf(stderr, "replay: cannot read %s\n", f.c_str());
			return 1;
		}
		std::fprintf(stderr, "replay: %s (%zu bytes)\n", f.c_str(), data.size());
		// A copy of exactly the input's size, so that ASan sees any read past
		// its end, as under libFuzzer.
		uint8_t *copy = new uint8_t[data.size() ? data.size() : 1];
		std::copy(data.begin(), data.end(), copy);
		LLVMFuzzerTestOneInput(copy, data.size());
		delete[] copy;
		bytes += data.size();
	}
	std::printf("replay: %zu inputs, %zu bytes, all passed\n", files.size(), bytes);
	return 0;
}
