// The few check macros of the plugin's C++ test programs (no test framework, so they build anywhere).
// Each failed check prints its line and counts in gFailures; a program exits non-zero when any failed.
#ifndef TRTCONVERT_PLUGINS_TESTS_CHECK_H
#define TRTCONVERT_PLUGINS_TESTS_CHECK_H

#include <cstdio>

namespace {

int gFailures = 0;
int gChecks = 0;

}  // namespace

#define CHECK(condition)                                                              \
    do {                                                                              \
        ++gChecks;                                                                    \
        if (!(condition)) {                                                           \
            ++gFailures;                                                              \
            std::printf("%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
        }                                                                             \
    } while (0)

#endif  // TRTCONVERT_PLUGINS_TESTS_CHECK_H
