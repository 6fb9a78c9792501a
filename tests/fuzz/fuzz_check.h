#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

// The fuzz targets' assertion: unlike assert() it stays on in release builds, and it names the
// broken property and the values involved before aborting, which libFuzzer reports as a crash
// and saves as a reproducer.
#define FUZZ_CHECK(condition, detail)                                                            \
  do {                                                                                           \
    if (!(condition)) {                                                                          \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: %s\n", __FILE__, __LINE__, #condition, \
                   std::string(detail).c_str());                                                 \
      std::abort();                                                                              \
    }                                                                                            \
  } while (0)
