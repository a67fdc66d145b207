#include <gtest/gtest.h>
#include <lz4.h>
TEST(Probe, Works) { EXPECT_GT(LZ4_versionNumber(), 10000); }
